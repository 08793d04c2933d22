/// @file A packed weight owned in the tensor-core layout (scheme/fragment_layout.hpp), made from the native layout at
/// load time, and the way back (what the round-trip tests check). No library types: nvcc compiles it, so the GPU
/// model can upload one.
#pragma once

#include "ptq/quant/packed_arrays.hpp"
#include "ptq/scheme/fragment_layout.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

namespace ptq {

struct FragmentArrays {
  FragmentLayout layout;
  std::vector<std::uint32_t> tiles;   // (layout.words())
  std::vector<std::uint16_t> scales;  // (layout.params()) fp16 bits
  std::vector<std::uint8_t> zeros;    // (layout.params()), empty when every zero point is 2^(bits-1) (symmetric)
  std::vector<std::int32_t> perm;     // (k), empty without act-order

  [[nodiscard]] FragmentView view() const {
    return {layout, tiles.data(), scales.data(), zeros.empty() ? nullptr : zeros.data(),
            perm.empty() ? nullptr : perm.data()};
  }
  /// Bytes of storage (tiles, scales, zeros, perm): the padding to whole tiles included.
  [[nodiscard]] std::size_t nbytes() const {
    return tiles.size() * 4 + scales.size() * 2 + zeros.size() + perm.size() * 4;
  }
};

/// The act-order permutation of `src` (channels sorted by group, stable), or an empty vector without g_idx;
/// nullopt when the groups are not contiguous runs of `src.group` rows once sorted (g_idx[perm[k']] = k' / group):
/// such a weight stays in the native layout.
inline std::optional<std::vector<std::int32_t>> fragment_perm(const PackedView& src) {
  if (src.g_idx == nullptr) return std::vector<std::int32_t>{};
  std::vector<std::int32_t> perm(static_cast<std::size_t>(src.k));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](std::int32_t a, std::int32_t b) { return src.g_idx[a] < src.g_idx[b]; });
  for (std::int64_t kp = 0; kp < src.k; ++kp)
    if (src.g_idx[perm[kp]] != kp / src.group) return std::nullopt;
  return perm;
}

/// `src` in the tensor-core layout, or nullopt when it has none (fragment_supported, fragment_perm).
inline std::optional<FragmentArrays> fragment_arrays(const PackedView& src) {
  if (!fragment_supported(src.bits, src.group, src.k)) return std::nullopt;
  auto perm = fragment_perm(src);
  if (!perm) return std::nullopt;
  FragmentArrays f{{src.n, src.k, src.group, src.bits}, {}, {}, {}, std::move(*perm)};
  const FragmentLayout& l = f.layout;
  f.tiles.resize(static_cast<std::size_t>(l.words()));
  const std::int32_t* perm_rows = f.perm.empty() ? nullptr : f.perm.data();
  for (std::int64_t w = 0; w < l.words(); ++w) f.tiles[w] = fragment_word(src, l, perm_rows, w);
  f.scales.assign(static_cast<std::size_t>(l.params()), 0);  // padding: scale 0, zero 0
  std::vector<std::uint8_t> zeros(static_cast<std::size_t>(l.params()), 0);
  bool symmetric = true;
  for (std::int64_t n = 0; n < l.n; ++n)
    for (std::int64_t g = 0; g < l.groups(); ++g) {
      f.scales[l.scale_index(n, g)] = src.scales[n * src.groups() + g];
      const std::uint32_t z = src.zero(n, g);
      zeros[l.zero_index(n, g)] = static_cast<std::uint8_t>(z);
      symmetric = symmetric && z == (1u << (l.bits - 1));
    }
  if (!symmetric) f.zeros = std::move(zeros);
  return f;
}

/// The native arrays `f` was made from (the inverse of fragment_arrays; group_size is the layout's group).
inline PackedArrays native_arrays(const FragmentArrays& f) {
  const FragmentLayout& l = f.layout;
  PackedArrays a{l.bits, static_cast<int>(l.group), f.zeros.empty(), l.n, l.k, {}, {}, {}, {}};
  const PackedView shape = a.view();
  a.qweight.assign(static_cast<std::size_t>(l.n * shape.words_per_row()), 0);
  a.qzeros.assign(static_cast<std::size_t>(l.n * shape.zero_words_per_row()), 0);
  a.scales.assign(static_cast<std::size_t>(l.n * l.groups()), 0);
  const FragmentView fv = f.view();
  if (!f.perm.empty()) {
    a.g_idx.resize(static_cast<std::size_t>(l.k));
    for (std::int64_t kp = 0; kp < l.k; ++kp) a.g_idx[f.perm[kp]] = static_cast<std::int32_t>(kp / l.group);
  }
  for (std::int64_t n = 0; n < l.n; ++n) {
    for (std::int64_t kp = 0; kp < l.k; ++kp)
      bitstream_set(a.qweight.data() + n * shape.words_per_row(), f.perm.empty() ? kp : f.perm[kp], l.bits,
                    fv.code(n, kp));
    for (std::int64_t g = 0; g < l.groups(); ++g) {
      a.scales[n * l.groups() + g] = f.scales[l.scale_index(n, g)];
      const std::uint32_t z = f.zeros.empty() ? 1u << (l.bits - 1) : f.zeros[l.zero_index(n, g)];
      bitstream_set(a.qzeros.data() + n * shape.zero_words_per_row(), g, l.bits, z);
    }
  }
  return a;
}

}  // namespace ptq
