/// @file The tensor-core weight layout (kernels/cuda/mma_wa16.cuh): ptq's native packed weight (packed_layout.hpp)
/// reordered once, at load time, so that each lane of a warp fetches its mma.sync m16n8k16 B fragments for a
/// 16 (k) x 64 (n) tile with one 16-byte load (W4; two for W8), and its group's scales and zero points with one
/// load per group. Ground floor: the index maps and the code extraction are PTQ_HOST_DEVICE and used as they are by
/// the repacker (host or device), the kernel, and the CPU emulation that tests them (tests/quant/test_fragment_layout).
///
/// y (m, n) = x (m, k) · W^T, W (n, k). The kernel multiplies A = x (row-major m16 x k16) by B = W^T (k16 x n8); in
/// mma.sync's B fragment lane l = 4·g + t (g = l / 4 in 0..7, t = l % 4) holds, for the n8 subtile's column g,
/// the four k rows 2t, 2t+1 (b0, b1) and 2t+8, 2t+9 (b2, b3). A tile (kt, nt) covers k' = 16·kt .. +16 and
/// n = 64·nt .. +64, i.e. eight subtiles s = 0..7:
///
///   tile (kt, nt): 32 lanes x Bits words, lane l's words contiguous (16 B for W4)
///   lane l holds 16 pairs p = 2·s + h (subtile s, half h: k rows 2t + 8h + {0, 1}) of column n = 64·nt + 8·s + g
///   word j of a lane holds pairs P·j .. P·j + P - 1 (P = 16 / Bits pairs per word: 4 for W4, 2 for W8):
///     pair P·j + i: first element (k row 2t + 8h) in code slot i, second (2t + 8h + 1) in slot i + P,
///     slot c in bits [c·Bits, c·Bits + Bits)
///
///   W4 word:  bit 31                                             bit 0
///             | p3.2nd | p2.2nd | p1.2nd | p0.2nd | p3.1st | p2.1st | p1.1st | p0.1st |   (p = 4j + i)
///   (word >> 4i) & 0x000f000f puts pair i's two codes in the two 16-bit halves, low half first: OR-ed with a
///   16-bit float whose ulp is 1 (the exponent-bias trick, biased_pair) they read as magic + q exactly, and one
///   half2 subtraction of (magic + z) gives q - z with no integer-to-float conversion.
///
///   tiles: strip-major, tile (kt, nt) at word (nt · tiles_k + kt) · 32 · Bits: a warp streams one strip's tiles
///   scales (per strip and group, 64 fp16): [t][s][j] = scale of n = 64·nt + 8·s + 2·t + j, the columns of lane
///          l's accumulator fragment (c0, c1 / c2, c3 sit in columns 2t, 2t+1): one 32-byte read per lane and group
///   zeros  (per strip and group, 64 uint8, asymmetric schemes): [g][s] = zero point of n = 64·nt + 8·s + g, the
///          columns of lane l's B fragment: one 8-byte read
///   perm   (k) int32, act-order only: logical row k' reads input channel perm[k'], channels sorted by their group
///          (stable), so every group is contiguous and group(k') = k' / group
/// Padding dequantizes to exactly 0: columns beyond N hold code 0, scale 0 and zero 0; rows beyond K (inside the
/// last group) hold the column's zero point as their code.
/// Requirements (fragment_supported): Bits 4 or 8; group a multiple of 16, or one group per row (per channel).
#pragma once

#include "ptq/core/config.hpp"
#include "ptq/scheme/packed_layout.hpp"

#include <cstdint>

namespace ptq {

/// Rows (k) and columns (n) of one tile: the k of one mma.sync m16n8k16 step, eight n8 subtiles.
inline constexpr int kFragmentTileK = 16, kFragmentTileN = 64;

/// Whether a weight of `bits` and `group` (channels per scale; k when per channel) has the tensor-core layout.
PTQ_HOST_DEVICE constexpr bool fragment_supported(int bits, std::int64_t group, std::int64_t k) {
  return (bits == 4 || bits == 8) && (group % kFragmentTileK == 0 || group == k);
}

/// Where one code lives: word index and code slot in that word.
struct FragmentSlot {
  std::int64_t word = 0;
  int slot = 0;
};

/// The shape of a weight W (n, k) in the tensor-core layout and of its arrays.
struct FragmentLayout {
  std::int64_t n = 0, k = 0;  // (out_features, in_features)
  std::int64_t group = 0;     // logical rows per scale (k when per channel)
  int bits = 0;               // 4 or 8

  [[nodiscard]] PTQ_HOST_DEVICE constexpr int words_per_lane() const { return bits; }        // 32 codes
  [[nodiscard]] PTQ_HOST_DEVICE constexpr int pairs_per_word() const { return 16 / bits; }   // P
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t tiles_k() const { return (k + kFragmentTileK - 1) / kFragmentTileK; }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t strips() const { return (n + kFragmentTileN - 1) / kFragmentTileN; }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t groups() const { return (k + group - 1) / group; }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t tile_words() const { return 32 * words_per_lane(); }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t words() const { return strips() * tiles_k() * tile_words(); }
  /// Entries of the scale and zero arrays: 64 per strip and group.
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t params() const { return strips() * groups() * kFragmentTileN; }

  /// The word and slot of W's code at column n, logical row kp (both may lie in the padding).
  [[nodiscard]] PTQ_HOST_DEVICE FragmentSlot slot_of(std::int64_t n_, std::int64_t kp) const {
    const int nl = static_cast<int>(n_ % kFragmentTileN), kl = static_cast<int>(kp % kFragmentTileK);
    const int s = nl / 8, g = nl % 8, t = (kl % 8) / 2, elem = kl % 2, h = kl / 8;
    const int p = 2 * s + h, P = pairs_per_word();
    const std::int64_t tile = (n_ / kFragmentTileN) * tiles_k() + kp / kFragmentTileK;
    return {tile * tile_words() + (4 * g + t) * words_per_lane() + p / P, p % P + elem * P};
  }

  /// The column and logical row of the code in `slot` of `word`: the inverse of slot_of.
  PTQ_HOST_DEVICE void coords_of(std::int64_t word, int slot, std::int64_t& n_, std::int64_t& kp) const {
    const std::int64_t tile = word / tile_words();
    const int r = static_cast<int>(word % tile_words()), lane = r / words_per_lane(), j = r % words_per_lane();
    const int P = pairs_per_word(), p = P * j + slot % P, elem = slot / P;
    const int g = lane / 4, t = lane % 4, s = p / 2, h = p % 2;
    n_ = (tile / tiles_k()) * kFragmentTileN + 8 * s + g;
    kp = (tile % tiles_k()) * kFragmentTileK + 2 * t + 8 * h + elem;
  }

  /// Index of column n's scale for group gi: [t][s][j] with n % 64 = 8s + 2t + j.
  [[nodiscard]] PTQ_HOST_DEVICE std::int64_t scale_index(std::int64_t n_, std::int64_t gi) const {
    const int nl = static_cast<int>(n_ % kFragmentTileN), s = nl / 8, t = (nl % 8) / 2, j = nl % 2;
    return ((n_ / kFragmentTileN) * groups() + gi) * kFragmentTileN + t * 16 + s * 2 + j;
  }
  /// Index of column n's zero point for group gi: [g][s] with n % 64 = 8s + g.
  [[nodiscard]] PTQ_HOST_DEVICE std::int64_t zero_index(std::int64_t n_, std::int64_t gi) const {
    const int nl = static_cast<int>(n_ % kFragmentTileN);
    return ((n_ / kFragmentTileN) * groups() + gi) * kFragmentTileN + (nl % 8) * 8 + nl / 8;
  }
};

/// A weight's tensor-core arrays, borrowed (host or device memory: the pointer's owner says which).
struct FragmentView : FragmentLayout {
  const std::uint32_t* tiles = nullptr;   // (words())
  const std::uint16_t* scales = nullptr;  // (params()) fp16 bits
  const std::uint8_t* zeros = nullptr;    // (params()) or null: symmetric, zero point 2^(bits-1)
  const std::int32_t* perm = nullptr;     // (k) or null: logical row k' is channel k'

  /// The code at column n, logical row kp.
  [[nodiscard]] PTQ_HOST_DEVICE std::uint32_t code(std::int64_t n_, std::int64_t kp) const {
    const FragmentSlot s = slot_of(n_, kp);
    return (tiles[s.word] >> (s.slot * bits)) & ((1u << bits) - 1);
  }
};

/// Word `w` of the tensor-core layout of the native weight `src`: what the repacker writes, one word per thread.
/// `perm` (src.k, or null) is FragmentView::perm.
PTQ_HOST_DEVICE std::uint32_t fragment_word(const PackedView& src, const FragmentLayout& dst, const std::int32_t* perm,
                                            std::int64_t w) {
  std::uint32_t v = 0;
  for (int c = 0; c < 32 / dst.bits; ++c) {
    std::int64_t n = 0, kp = 0;
    dst.coords_of(w, c, n, kp);
    if (n >= src.n) continue;  // padding columns: code 0 with scale 0
    if (kp < src.k) {
      v |= src.code(n, perm != nullptr ? perm[kp] : kp) << (c * dst.bits);
    } else {  // padding rows: the last group's zero point
      v |= src.zero(n, dst.groups() - 1) << (c * dst.bits);
    }
  }
  return v;
}

/// The 16-bit float whose ulp is 1, so that OR-ing a code q < 2^mantissa-bits into it reads as magic + q:
/// fp16 1024.0 (codes up to 1023) and bf16 128.0 (codes up to 127: W4 only; W8 goes through fp16).
inline constexpr std::uint16_t kFp16Magic = 0x6400, kBf16Magic = 0x4300;

/// Pair i (0 <= i < 16 / Bits) of a layout word as two biased 16-bit floats, first element in the low half:
/// (magic | q_first) | (magic | q_second) << 16. Integer operations only (one lop3 on the device).
template <int Bits>
PTQ_HOST_DEVICE std::uint32_t biased_pair(std::uint32_t word, int i, std::uint16_t magic) {
  constexpr std::uint32_t mask = ((1u << Bits) - 1) * 0x00010001u;
  return ((word >> (i * Bits)) & mask) | (std::uint32_t{magic} * 0x00010001u);
}

}  // namespace ptq
