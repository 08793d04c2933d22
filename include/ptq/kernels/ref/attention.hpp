/// @file Rotary position embedding (Hugging Face rotate-half) and causal grouped-query attention, float32.
#pragma once

#include "ptq/core/math.hpp"
#include "ptq/core/tensor.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/kernels/score_batch.hpp"

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace ptq::ref {

/// cos/sin tables (T, head_dim/2) for the given token positions, computed in float32 exactly as
/// Hugging Face does: inv_freq[i] = 1 / theta^(2i/d), angle = position * inv_freq[i].
struct RopeTable {
  std::int64_t half = 0;    // head_dim / 2
  std::vector<float> cos;  // (T, half)
  std::vector<float> sin;  // (T, half)

  RopeTable(std::span<const std::int32_t> positions, std::int64_t head_dim, double theta) : half(head_dim / 2) {
    std::vector<float> inv_freq(static_cast<std::size_t>(half));
    for (std::int64_t i = 0; i < half; ++i)
      inv_freq[i] = 1.0f / std::pow(static_cast<float>(theta),
                                    static_cast<float>(2 * i) / static_cast<float>(head_dim));
    const auto t_len = static_cast<std::int64_t>(positions.size());
    cos.resize(static_cast<std::size_t>(t_len * half));
    sin.resize(cos.size());
    for (std::int64_t t = 0; t < t_len; ++t)
      for (std::int64_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(positions[t]) * inv_freq[i];
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

/// Causal attention with grouped KV heads: out (T, Hq, d) = softmax(q k^T / sqrt(d) + mask) v, where
/// query head h reads key/value head h / (Hq / Hkv) and the mask follows `layout`. q: (T, Hq, d),
/// k and v: (T, Hkv, d). One score matrix (n, n) per segment of n tokens and head; (segment, head)
/// pairs spread over threads (BLAS single-threaded inside).
inline void causal_attention(const float* q, const float* k, const float* v, float* out, std::int64_t hq,
                             std::int64_t hkv, std::int64_t d, const AttentionLayout& layout) {
  const std::int64_t group = hq / hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const auto segments = static_cast<std::int64_t>(layout.segment_begin.size()) - 1;
  std::int64_t longest = 0;
  for (std::int64_t s = 0; s < segments; ++s)
    longest = std::max<std::int64_t>(longest, layout.segment_begin[s + 1] - layout.segment_begin[s]);
  const std::int32_t* branch = layout.branch.data();
#pragma omp parallel
  {
    Buffer<float> scores(static_cast<std::size_t>(longest * longest));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t job = 0; job < segments * hq; ++job) {
      const std::int64_t seg = job / hq, h = job % hq, kvh = h / group;
      const std::int64_t t0 = layout.segment_begin[seg], n = layout.segment_begin[seg + 1] - t0;
      if (n == 0) continue;
      float* s = scores.data();
      gemm_nt(n, n, d, scale, q + (t0 * hq + h) * d, hq * d, k + (t0 * hkv + kvh) * d, hkv * d, 0.0f, s, n);
      const std::int32_t* br = branch + t0;
      for (std::int64_t i = 0; i < n; ++i) {
        float* row = s + i * n;
        const std::int32_t bi = br[i];
        float mx = -3.0e38f;
#pragma omp simd reduction(max : mx)
        for (std::int64_t j = 0; j <= i; ++j) {
          const bool visible = br[j] == 0 || br[j] == bi;
          mx = std::max(mx, visible ? row[j] : -3.0e38f);
        }
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (std::int64_t j = 0; j <= i; ++j) {
          const bool visible = br[j] == 0 || br[j] == bi;
          row[j] = visible ? exp_approx(row[j] - mx) : 0.0f;
          sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (std::int64_t j = 0; j <= i; ++j) row[j] *= inv;
        for (std::int64_t j = i + 1; j < n; ++j) row[j] = 0.0f;
      }
      gemm_nn(n, d, n, 1.0f, s, n, v + (t0 * hkv + kvh) * d, hkv * d, 0.0f, out + (t0 * hq + h) * d, hq * d);
    }
  }
}

}  // namespace ptq::ref
