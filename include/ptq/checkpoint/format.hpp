/// @file The serving ecosystem's packed-weight layouts, converted exactly to and from ptq's PackedWeight.
///
/// GPTQ v1 (AutoGPTQ / GPTQModel with checkpoint_format "gptq"; vLLM's and transformers' reading), W (N, K), b bits,
/// G = K / group groups (group = K when per channel):
///   qweight I32 (K·b/32, N): column n's K codes as a little-endian bitstream along the input dimension, one
///           32-bit word per row (b = 3 straddles words exactly as AutoGPTQ's 10-1-10-1-10 scheme does)
///   qzeros  I32 (G, N·b/32): row g's N zero points minus 1, bitstream along the output dimension
///           ("gptq_v2" stores them without the - 1)
///   scales  F16 (G, N);  g_idx I32 (K): the group of input channel k (any order with act-order / desc_act)
///   dequantized w[n, k] = scales[g, n] · (q[k, n] − (qzeros[g, n] + 1)),  g = g_idx[k]
/// AWQ GEMM (AutoAWQ WQLinear_GEMM, llm-awq), 4-bit only, no act-order:
///   qweight I32 (K, N/8): nibble slot i of word j holds column 8j + [0, 2, 4, 6, 1, 3, 5, 7][i]
///   qzeros  I32 (G, N/8): the same interleave, no offset;  scales F16 (G, N)
///   dequantized w[n, k] = scales[g, n] · (q[k, n] − z[g, n]),  g = k / group
/// ptq's native layout is quant/packed.hpp's (rows = output channels).
#pragma once

#include "ptq/core/status.hpp"
#include "ptq/core/tensor.hpp"
#include "ptq/quant/packed.hpp"
#include "ptq/tokenizer/regex.hpp"

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ptq {

enum class CheckpointFormat : std::uint8_t { kNative, kGptq, kAwq };

inline constexpr std::array<std::string_view, 3> kFormatNames{"native", "gptq", "awq"};
inline std::string_view format_name(CheckpointFormat f) { return kFormatNames[static_cast<std::size_t>(f)]; }
inline CheckpointFormat parse_format(std::string_view name) {
  return enum_from_name<CheckpointFormat>(kFormatNames, name, "format");
}

/// One entry of GPTQModel's per-module "dynamic" quantization_config (mixed precision): `pattern` is a regular
/// expression matched at the start of a module's name (Python's re.match; the first matching entry decides); a
/// "+:" entry (the default) overrides the fields it names, a "-:" entry leaves the module unquantized.
struct DynamicRule {
  std::string key;                     // as the config names it, e.g. +:model\.layers\.0\.mlp\.down_proj$
  std::shared_ptr<const Regex> regex;  // the pattern after its "+:" / "-:" prefix
  bool skip = false;                   // "-:"
  std::optional<int> bits, group_size; // group_size -1: per channel
  std::optional<bool> sym;
};

/// What a quantized checkpoint's config.json declares.
struct QuantizedCheckpoint {
  QuantSpec spec;                     // every quantized module's, unless a dynamic entry says otherwise
  CheckpointFormat format = CheckpointFormat::kNative;
  int zero_offset = 0;                // GPTQ v1 stores zero - 1
  std::vector<DynamicRule> dynamic;   // per-module schemes, in order

  /// The scheme of `module` ("model.layers.3.mlp.down_proj"), or nullopt when a "-:" entry leaves it unquantized.
  [[nodiscard]] std::optional<QuantSpec> spec_for(const std::string& module) const {
    for (const DynamicRule& r : dynamic) {
      if (!r.regex->matches_at_start(module)) continue;
      if (r.skip) return std::nullopt;
      const int group = r.group_size.value_or(spec.group_size == kPerChannel ? -1 : spec.group_size);
      return QuantSpec{r.bits.value_or(spec.bits), group == -1 ? kPerChannel : group,
                       r.sym.value_or(spec.sym()) ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
    }
    return spec;
  }
  /// This checkpoint's layout with one module's scheme (what binding that module's tensors needs).
  [[nodiscard]] QuantizedCheckpoint with_spec(const QuantSpec& s) const { return {s, format, zero_offset, {}}; }
};

inline constexpr std::array<int, 8> kAwqOrder{0, 2, 4, 6, 1, 3, 5, 7};  // nibble slot -> column within 8

/// One linear's tensors in an ecosystem layout (names are suffixes of the linear's prefix).
struct FormatTensors {
  std::vector<std::uint32_t> qweight, qzeros;
  std::vector<fp16> scales;
  std::vector<std::int32_t> g_idx;  // empty: not stored
  Shape qweight_shape, qzeros_shape, scales_shape;
};

namespace detail {

/// Scales (N, G) -> (G, N).
inline std::vector<fp16> scales_by_group(const PackedWeight& p) {
  std::vector<fp16> s(p.scales.size());
  for (std::int64_t n = 0; n < p.n; ++n)
    for (std::int64_t g = 0; g < p.groups(); ++g) s[g * p.n + n] = p.scales[n * p.groups() + g];
  return s;
}

inline void check_format_shape(const std::string& what, const PackedWeight& p, CheckpointFormat f) {
  const int b = p.spec.bits;
  if (f == CheckpointFormat::kGptq) {
    check(b == 2 || b == 3 || b == 4 || b == 8, what, "gptq", "{} bits cannot be stored (GPTQ: 2, 3, 4, 8)", b);
    check(p.k * b % 32 == 0 && p.n * b % 32 == 0, what, "gptq",
          "a ({}, {}) weight at {} bits does not fill whole 32-bit words (in and out features x bits must be multiples of 32)",
          p.n, p.k, b);
  } else {
    check(b == 4, what, "awq", "{} bits cannot be stored (AWQ GEMM is 4-bit only)", b);
    check(p.g_idx.empty(), what, "awq", "act-order (g_idx) cannot be stored in AWQ GEMM; use --format gptq or native");
    check(p.spec.group_size != kPerChannel && p.k % p.group() == 0 && p.n % 8 == 0, what, "awq",
          "a ({}, {}) weight with group size {} does not fit AWQ GEMM (groups must divide the input, output a multiple "
          "of 8)", p.n, p.k, p.spec.group_size);
  }
}

}  // namespace detail

/// `p` in GPTQ v1 layout; `what` names the linear in errors. A zero point of 0 cannot be stored (zero − 1 would
/// borrow from the neighbouring value, as GPTQModel's v2 -> v1 conversion silently does): refused.
inline FormatTensors to_gptq(const PackedWeight& p, const std::string& what) {
  detail::check_format_shape(what, p, CheckpointFormat::kGptq);
  const int b = p.spec.bits;
  const std::int64_t ng = p.groups(), words = p.k * b / 32, zwords = p.n * b / 32;
  FormatTensors t;
  t.qweight.resize(static_cast<std::size_t>(words * p.n));
  for (std::int64_t n = 0; n < p.n; ++n)  // the native row bitstream is the GPTQ column bitstream
    for (std::int64_t w = 0; w < words; ++w) t.qweight[w * p.n + n] = p.qweight[n * p.words_per_row() + w];
  t.qzeros.assign(static_cast<std::size_t>(ng * zwords), 0);
  for (std::int64_t g = 0; g < ng; ++g)
    for (std::int64_t n = 0; n < p.n; ++n) {
      const int z = p.params(n, g).zero;
      check(z > 0, what, "gptq", "zero point 0 (row {}, group {}) cannot be stored as zero - 1 in GPTQ v1; use "
            "--format awq or native", n, g);
      bitstream_set(t.qzeros.data() + g * zwords, n, b, static_cast<std::uint32_t>(z - 1));
    }
  t.scales = detail::scales_by_group(p);
  t.g_idx.resize(static_cast<std::size_t>(p.k));
  for (std::int64_t c = 0; c < p.k; ++c) t.g_idx[c] = static_cast<std::int32_t>(p.group_of(c));
  t.qweight_shape = {words, p.n};
  t.qzeros_shape = {ng, zwords};
  t.scales_shape = {ng, p.n};
  return t;
}

/// `p` in AWQ GEMM layout.
inline FormatTensors to_awq(const PackedWeight& p, const std::string& what) {
  detail::check_format_shape(what, p, CheckpointFormat::kAwq);
  const std::int64_t ng = p.groups(), words = p.n / 8;
  FormatTensors t;
  t.qweight.assign(static_cast<std::size_t>(p.k * words), 0);
  t.qzeros.assign(static_cast<std::size_t>(ng * words), 0);
  for (std::int64_t j = 0; j < words; ++j)
    for (int i = 0; i < 8; ++i) {
      const std::int64_t n = 8 * j + kAwqOrder[i];
      for (std::int64_t c = 0; c < p.k; ++c) t.qweight[c * words + j] |= static_cast<std::uint32_t>(p.code(n, c)) << (4 * i);
      for (std::int64_t g = 0; g < ng; ++g)
        t.qzeros[g * words + j] |= static_cast<std::uint32_t>(p.params(n, g).zero) << (4 * i);
    }
  t.scales = detail::scales_by_group(p);
  t.qweight_shape = {p.k, words};
  t.qzeros_shape = {ng, words};
  t.scales_shape = {ng, p.n};
  return t;
}

/// The inverse of to_gptq / to_awq for a (n, k) linear: tensors as read from a checkpoint (shapes already
/// checked by the caller against expected_shapes). g_idx equal to k / group is dropped (the plain layout).
inline PackedWeight from_format(const FormatTensors& t, std::int64_t n, std::int64_t k, const QuantizedCheckpoint& q,
                                const std::string& what) {
  PackedWeight p = PackedWeight::empty(q.spec, n, k);
  const int b = q.spec.bits, maxq = q.spec.maxq();
  const std::int64_t ng = p.groups();
  std::array<int, 8> slot{};  // AWQ: the nibble slot of column 8j + c
  for (int i = 0; i < 8; ++i) slot[kAwqOrder[i]] = i;
  for (std::int64_t g = 0; g < ng; ++g)
    for (std::int64_t r = 0; r < n; ++r) {
      const float s = to_float(t.scales[g * n + r]);
      check(std::isfinite(s) && s > 0, what, "scales", "entry ({}, {}) is {} (scales must be positive and finite)", g,
            r, s);
      int z = 0;
      if (q.format == CheckpointFormat::kGptq) {
        z = static_cast<int>(bitstream_get(t.qzeros.data() + g * (n * b / 32), r, b)) + q.zero_offset;
      } else {
        z = static_cast<int>((t.qzeros[g * (n / 8) + r / 8] >> (4 * slot[r % 8])) & 15u);
      }
      check(z <= maxq, what, "qzeros", "zero point {} at (group {}, column {}) exceeds {} for {} bits", z, g, r, maxq, b);
      p.set_params(r, g, {s, z});
    }
  if (q.format == CheckpointFormat::kGptq) {
    const std::int64_t words = k * b / 32;
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t w = 0; w < words; ++w) p.qweight[r * p.words_per_row() + w] = t.qweight[w * n + r];
  } else {
    for (std::int64_t c = 0; c < k; ++c)
      for (std::int64_t r = 0; r < n; ++r)
        p.set_code(r, c, static_cast<int>((t.qweight[c * (n / 8) + r / 8] >> (4 * slot[r % 8])) & 15u));
  }
  if (!t.g_idx.empty()) {
    bool plain = true;
    for (std::int64_t c = 0; c < k; ++c) {
      check(t.g_idx[c] >= 0 && t.g_idx[c] < ng, what, "g_idx", "entry {} is {}, outside 0..{}", c, t.g_idx[c], ng - 1);
      plain = plain && t.g_idx[c] == c / p.group();
    }
    if (!plain) p.g_idx = t.g_idx;
  }
  return p;
}

/// The shapes of a (n, k) linear's qweight, qzeros and scales in format `q`.
inline std::array<Shape, 3> expected_shapes(std::int64_t n, std::int64_t k, const QuantizedCheckpoint& q) {
  const std::int64_t group = q.spec.group(k), ng = (k + group - 1) / group;
  const int b = q.spec.bits;
  switch (q.format) {
    case CheckpointFormat::kGptq: return {Shape{k * b / 32, n}, Shape{ng, n * b / 32}, Shape{ng, n}};
    case CheckpointFormat::kAwq: return {Shape{k, n / 8}, Shape{ng, n / 8}, Shape{ng, n}};
    case CheckpointFormat::kNative: break;
  }
  return {Shape{n, bitstream_words(k, b)}, Shape{n, bitstream_words(ng, b)}, Shape{n, ng}};
}

}  // namespace ptq
