/// @file Rotary position embedding (Hugging Face rotate-half) and causal grouped-query attention, float32.
#pragma once

#include "ptq/core/math.hpp"
#include "ptq/core/tensor.hpp"
#include "ptq/kernels/ref/blas.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace ptq::ref {

/// cos/sin tables (T, head_dim/2) for positions pos0 .. pos0+T-1, computed in float32 exactly as
/// Hugging Face does: inv_freq[i] = 1 / theta^(2i/d), angle = position * inv_freq[i].
struct RopeTable {
  std::int64_t half = 0;    // head_dim / 2
  std::vector<float> cos;  // (T, half)
  std::vector<float> sin;  // (T, half)

  RopeTable(std::int64_t t_len, std::int64_t head_dim, double theta, std::int64_t pos0 = 0) : half(head_dim / 2) {
    std::vector<float> inv_freq(static_cast<std::size_t>(half));
    for (std::int64_t i = 0; i < half; ++i)
      inv_freq[i] = 1.0f / std::pow(static_cast<float>(theta),
                                    static_cast<float>(2 * i) / static_cast<float>(head_dim));
    cos.resize(static_cast<std::size_t>(t_len * half));
    sin.resize(cos.size());
    for (std::int64_t t = 0; t < t_len; ++t)
      for (std::int64_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(pos0 + t) * inv_freq[i];
        cos[t * half + i] = std::cos(angle);
        sin[t * half + i] = std::sin(angle);
      }
  }
};

/// In place on x (T, heads, head_dim): pairs (i, i + d/2) rotate by the position's angle i.
inline void apply_rope(float* x, std::int64_t t_len, std::int64_t heads, const RopeTable& rope) {
  const std::int64_t half = rope.half, d = 2 * half;
#pragma omp parallel for
  for (std::int64_t t = 0; t < t_len; ++t)
    for (std::int64_t h = 0; h < heads; ++h) {
      float* v = x + (t * heads + h) * d;
      const float* c = rope.cos.data() + t * half;
      const float* s = rope.sin.data() + t * half;
      for (std::int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] + (-b) * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
}

/// Causal attention with grouped KV heads: out (T, Hq, d) = softmax(q k^T / sqrt(d) + causal) v, where
/// query head h reads key/value head h / (Hq / Hkv). q: (T, Hq, d), k and v: (T, Hkv, d).
/// One score matrix (T, T) per head, heads spread over threads (BLAS single-threaded inside).
inline void causal_attention(const float* q, const float* k, const float* v, float* out, std::int64_t t_len,
                             std::int64_t hq, std::int64_t hkv, std::int64_t d) {
  const std::int64_t group = hq / hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
#pragma omp parallel
  {
    Buffer<float> scores(static_cast<std::size_t>(t_len * t_len));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t h = 0; h < hq; ++h) {
      const std::int64_t kvh = h / group;
      float* s = scores.data();
      gemm_nt(t_len, t_len, d, scale, q + h * d, hq * d, k + kvh * d, hkv * d, 0.0f, s, t_len);
      for (std::int64_t i = 0; i < t_len; ++i) {
        float* row = s + i * t_len;
        float mx = row[0];
#pragma omp simd reduction(max : mx)
        for (std::int64_t j = 1; j <= i; ++j) mx = std::max(mx, row[j]);
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (std::int64_t j = 0; j <= i; ++j) {
          row[j] = exp_approx(row[j] - mx);
          sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (std::int64_t j = 0; j <= i; ++j) row[j] *= inv;
        for (std::int64_t j = i + 1; j < t_len; ++j) row[j] = 0.0f;
      }
      gemm_nn(t_len, d, t_len, 1.0f, s, t_len, v + kvh * d, hkv * d, 0.0f, out + h * d, hq * d);
    }
  }
}

}  // namespace ptq::ref
