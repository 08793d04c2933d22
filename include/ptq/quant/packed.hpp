/// @file ptq's native packed low-bit weight on the host (the layout: scheme/packed_layout.hpp), its dequantization,
/// the CPU's W4 GEMV, and round-to-nearest quantization.
#pragma once

#include "ptq/core/numeric.hpp"
#include "ptq/core/tensor.hpp"
#include "ptq/quant/packed_arrays.hpp"
#include "ptq/quant/quantizer.hpp"
#include "ptq/scheme/packed_layout.hpp"

#include <cstdint>
#include <span>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <vector>

namespace ptq {

struct PackedWeight {
  QuantSpec spec;
  std::int64_t n = 0, k = 0;           // (out_features, in_features)
  std::vector<std::uint32_t> qweight;  // (n, words_per_row())
  std::vector<fp16> scales;            // (n, groups())
  std::vector<std::uint32_t> qzeros;   // (n, zero_words_per_row())
  std::vector<std::int32_t> g_idx;     // (k) or empty

  [[nodiscard]] std::int64_t group() const { return spec.group(k); }
  [[nodiscard]] PackedLayout layout() const { return {n, k, group(), spec.bits}; }
  [[nodiscard]] std::int64_t groups() const { return layout().groups(); }
  [[nodiscard]] std::int64_t words_per_row() const { return layout().words_per_row(); }
  [[nodiscard]] std::int64_t zero_words_per_row() const { return layout().zero_words_per_row(); }
  [[nodiscard]] std::int64_t group_of(std::int64_t col) const { return g_idx.empty() ? col / group() : g_idx[col]; }
  /// The arrays as a borrowed view (what the GPU model uploads).
  [[nodiscard]] PackedView view() const {
    return {layout(), qweight.data(), reinterpret_cast<const std::uint16_t*>(scales.data()), qzeros.data(),
            g_idx.empty() ? nullptr : g_idx.data()};
  }
  /// Bytes of packed storage (codes, scales, zeros, g_idx).
  [[nodiscard]] std::size_t nbytes() const {
    return qweight.size() * 4 + scales.size() * 2 + qzeros.size() * 4 + g_idx.size() * 4;
  }

  static PackedWeight empty(const QuantSpec& spec, std::int64_t n, std::int64_t k) {
    validate(spec, "PackedWeight");
    PackedWeight p{spec, n, k, {}, {}, {}, {}};
    p.qweight.assign(static_cast<std::size_t>(n * p.words_per_row()), 0);
    p.scales.assign(static_cast<std::size_t>(n * p.groups()), fp16{});
    p.qzeros.assign(static_cast<std::size_t>(n * p.zero_words_per_row()), 0);
    return p;
  }

  void set_code(std::int64_t row, std::int64_t col, int code) {
    bitstream_set(qweight.data() + row * words_per_row(), col, spec.bits, static_cast<std::uint32_t>(code));
  }
  [[nodiscard]] int code(std::int64_t row, std::int64_t col) const {
    return static_cast<int>(bitstream_get(qweight.data() + row * words_per_row(), col, spec.bits));
  }
  void set_params(std::int64_t row, std::int64_t g, const GroupParams& p) {
    scales[row * groups() + g] = to_fp16(p.scale);
    bitstream_set(qzeros.data() + row * zero_words_per_row(), g, spec.bits, static_cast<std::uint32_t>(p.zero));
  }
  [[nodiscard]] GroupParams params(std::int64_t row, std::int64_t g) const {
    return {to_float(scales[row * groups() + g]),
            static_cast<int>(bitstream_get(qzeros.data() + row * zero_words_per_row(), g, spec.bits))};
  }

  /// Rows [row0, row0 + rows) dequantized to float32 (rows, k).
  void dequantize_rows(std::int64_t row0, std::int64_t rows, float* out) const {
    const std::int64_t gs = group(), ng = groups();
    std::vector<float> scale(static_cast<std::size_t>(ng)), zero(static_cast<std::size_t>(ng));
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t row = row0 + r;
      for (std::int64_t g = 0; g < ng; ++g) {
        const GroupParams p = params(row, g);
        scale[g] = p.scale;
        zero[g] = static_cast<float>(p.zero);
      }
      const std::uint32_t* q = qweight.data() + row * words_per_row();
      float* o = out + r * k;
      if (spec.bits == 4 && g_idx.empty() && gs % 8 == 0) {  // fast path: 8 codes per word
        for (std::int64_t w = 0; w < k / 8; ++w) {
          const std::uint32_t word = q[w];
          const float s = scale[w * 8 / gs], z = zero[w * 8 / gs];
          for (int j = 0; j < 8; ++j) o[w * 8 + j] = s * (static_cast<float>((word >> (4 * j)) & 15u) - z);
        }
        for (std::int64_t c = k / 8 * 8; c < k; ++c)
          o[c] = scale[c / gs] * (static_cast<float>(bitstream_get(q, c, 4)) - zero[c / gs]);
      } else {
        for (std::int64_t c = 0; c < k; ++c) {
          const std::int64_t g = group_of(c);
          o[c] = scale[g] * (static_cast<float>(bitstream_get(q, c, spec.bits)) - zero[g]);
        }
      }
    }
  }
};

/// A packed weight another device returned (PackedArrays: the same layout, fp16 scales as bits) as a PackedWeight;
/// throws naming `what` unless its arrays have the layout's sizes.
inline PackedWeight packed_weight(const PackedArrays& a, const std::string& what) {
  PackedWeight p = PackedWeight::empty({a.bits, a.group_size, a.symmetric ? Symmetry::kSymmetric : Symmetry::kAsymmetric},
                                       a.n, a.k);
  check(a.qweight.size() == p.qweight.size() && a.scales.size() == p.scales.size() && a.qzeros.size() == p.qzeros.size() &&
            (a.g_idx.empty() || a.g_idx.size() == static_cast<std::size_t>(a.k)),
        what, "packed", "arrays of {} / {} / {} words do not fit ({}, {}) in {}", a.qweight.size(), a.scales.size(),
        a.qzeros.size(), a.n, a.k, config_name(p.spec));
  p.qweight = a.qweight;
  p.qzeros = a.qzeros;
  p.g_idx = a.g_idx;
  for (std::size_t i = 0; i < a.scales.size(); ++i) p.scales[i] = fp16{a.scales[i]};
  return p;
}

/// The same weight as plain arrays (what a layer checkpoint and the GPU take).
inline PackedArrays packed_arrays(const PackedWeight& p) {
  PackedArrays a{p.spec.bits, p.spec.group_size, p.spec.symmetry == Symmetry::kSymmetric, p.n, p.k, p.qweight, p.qzeros,
                 std::vector<std::uint16_t>(p.scales.size()), p.g_idx};
  for (std::size_t i = 0; i < p.scales.size(); ++i) a.scales[i] = p.scales[i].bits;
  return a;
}

/// A PackedWeight as ref::WeightRows: the CPU product dequantizes panels of rows on the fly (W4A16 etc.).
struct PackedRows {
  const PackedWeight& p;
  [[nodiscard]] std::int64_t n() const { return p.n; }
  [[nodiscard]] std::int64_t k() const { return p.k; }
  [[nodiscard]] const float* direct() const { return nullptr; }
  void load(std::int64_t row0, std::int64_t rows, float* out) const { p.dequantize_rows(row0, rows, out); }
};

/// y (M, N) = x (M, K) · W^T straight from 4-bit codes, for small M (decode-time GEMV): per output row and
/// group, Σ s (q - z) x = s (Σ q x - z Σ x), so the codes are never expanded to a float32 matrix; each input row
/// is read once per group. W4 without act-order only (can_gemv_w4); threads split the output rows.
inline bool can_gemv_w4(const PackedWeight& p) { return p.spec.bits == 4 && p.g_idx.empty() && p.group() % 8 == 0 && p.k % 8 == 0; }

namespace detail {
/// Σ_j code_j · x_j over `words` words of 8 nibbles (code j of word w is bits 4j..4j+3) and 8·words floats.
inline float dot_w4(const std::uint32_t* q, const float* x, std::int64_t words) {
#if defined(__AVX2__) && defined(__FMA__)
  // Broadcast the word, shift lane j right by 4j, mask: the 8 codes as int32 lanes; convert and multiply-add.
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i mask = _mm256_set1_epi32(15);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t w = 0; w < words; ++w) {
    const __m256i codes = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(q[w])), shifts), mask);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(codes), _mm256_loadu_ps(x + 8 * w), acc);
  }
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
#else
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // same lane order and pairing as the AVX2 path
  for (std::int64_t w = 0; w < words; ++w)
    for (int j = 0; j < 8; ++j) acc[j] += static_cast<float>((q[w] >> (4 * j)) & 15u) * x[8 * w + j];
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
#endif
}
}  // namespace detail

inline void gemv_w4(const PackedWeight& p, const float* x, std::int64_t m, float* y) {
  const std::int64_t k = p.k, n = p.n, gs = p.group(), ng = p.groups(), words = p.words_per_row();
  std::vector<float> xsum(static_cast<std::size_t>(m * ng), 0.0f);  // Σ x over each group, per input row
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t c = 0; c < k; ++c) xsum[i * ng + c / gs] += x[i * k + c];
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < n; ++r) {
    const std::uint32_t* q = p.qweight.data() + r * words;
    for (std::int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * k;
      float total = 0;
      for (std::int64_t g = 0; g < ng; ++g) {
        const std::int64_t w0 = g * gs / 8, w1 = std::min(k, (g + 1) * gs) / 8;
        const float dot = detail::dot_w4(q + w0, xi + w0 * 8, w1 - w0);
        const GroupParams gp = p.params(r, g);
        total += gp.scale * (dot - static_cast<float>(gp.zero) * xsum[i * ng + g]);
      }
      y[i * n + r] = total;
    }
  }
}

/// Round-to-nearest of a float32 weight (N, K) row-major onto `spec` with the given grid convention.
inline PackedWeight quantize_rtn(std::span<const float> w, std::int64_t n, std::int64_t k, const QuantSpec& spec,
                                 Grid grid = Grid::kGptq) {
  PackedWeight p = PackedWeight::empty(spec, n, k);
  const std::int64_t gs = p.group();
#pragma omp parallel for
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t g = 0; g < p.groups(); ++g) {
      const std::int64_t c0 = g * gs, c1 = std::min(k, c0 + gs);
      const auto group = w.subspan(static_cast<std::size_t>(r * k + c0), static_cast<std::size_t>(c1 - c0));
      const GroupParams gp = find_params(group, spec, grid);
      p.set_params(r, g, gp);
      for (std::int64_t c = c0; c < c1; ++c) p.set_code(r, c, quantize_code(w[r * k + c], gp, spec.maxq()));
    }
  return p;
}

}  // namespace ptq
