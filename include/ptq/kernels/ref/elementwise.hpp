/// @file Row-wise and element-wise float32 ops of the Qwen2 block: RMSNorm, SwiGLU, residual add.
#pragma once

#include "ptq/core/math.hpp"

#include <cmath>
#include <cstdint>
#include <span>

namespace ptq::ref {

/// out (T, H) = weight (H) * x / sqrt(mean(x^2) + eps), row by row (Hugging Face Qwen2RMSNorm in float32).
inline void rms_norm(const float* x, std::int64_t t_len, std::int64_t h, std::span<const float> weight, float eps,
                     float* out) {
#pragma omp parallel for
  for (std::int64_t t = 0; t < t_len; ++t) {
    const float* r = x + t * h;
    double ss = 0;
    for (std::int64_t i = 0; i < h; ++i) ss += static_cast<double>(r[i]) * r[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(h)) + eps);
    for (std::int64_t i = 0; i < h; ++i) out[t * h + i] = weight[i] * (r[i] * inv);
  }
}

/// gate (n) = silu(gate) * up, in place.
inline void swiglu(float* gate, const float* up, std::int64_t n) {
#pragma omp parallel for simd
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + exp_approx(-g)) * up[i];
  }
}

/// x (n) += y (n).
inline void add_inplace(float* x, const float* y, std::int64_t n) {
#pragma omp parallel for
  for (std::int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace ptq::ref
