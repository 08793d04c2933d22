/// @file ptq's native packed layout, once for the host and the device: the shapes of a packed weight's arrays, the
/// little-endian code bitstream they hold, and a borrowed view of the arrays (what the CPU hands the GPU and what
/// the GPU kernels read). Ground floor: no fmt, no exceptions, PTQ_HOST_DEVICE (nvcc compiles it as it is).
///
/// For W (N, K), bits b, group size G, groups = ceil(K / G):
///   qweight (N, ceil(K * b / 32)) uint32: row n's K codes, code k in bits [k*b, k*b + b) of the row's
///                                        little-endian bitstream (codes straddle two words when b = 3, 5, 6, 7)
///   scales  (N, groups) fp16
///   qzeros  (N, ceil(groups * b / 32)) uint32: zero points, the same bitstream layout
///   g_idx   (K) int32, optional: group of input channel k (act-order); absent means k / G
/// Bits per weight: b + (16 + b) / G (W4 g128: 4.156).
#pragma once

#include "ptq/core/config.hpp"

#include <cstdint>

namespace ptq {

/// Words of a bitstream of `count` codes of `bits` bits.
PTQ_HOST_DEVICE constexpr std::int64_t bitstream_words(std::int64_t count, int bits) { return (count * bits + 31) / 32; }

/// Code i of a bitstream (it may straddle two words).
PTQ_HOST_DEVICE std::uint32_t bitstream_get(const std::uint32_t* row, std::int64_t i, int bits) {
  const std::int64_t bit = i * bits, w = bit / 32;
  const int off = static_cast<int>(bit % 32);
  std::uint32_t v = row[w] >> off;
  if (off + bits > 32) v |= row[w + 1] << (32 - off);
  return v & ((1u << bits) - 1);
}

/// Writes code i of a bitstream, clearing what was there.
PTQ_HOST_DEVICE void bitstream_set(std::uint32_t* row, std::int64_t i, int bits, std::uint32_t code) {
  const std::int64_t bit = i * bits, w = bit / 32;
  const int off = static_cast<int>(bit % 32);
  const std::uint32_t mask = (1u << bits) - 1;
  row[w] = (row[w] & ~(mask << off)) | (code << off);
  if (off + bits > 32) row[w + 1] = (row[w + 1] & ~(mask >> (32 - off))) | (code >> (32 - off));
}

/// Word w of the bitstream of codes[0..count) (one byte each): what a parallel packer writes, one word per thread.
PTQ_HOST_DEVICE std::uint32_t bitstream_word(const std::uint8_t* codes, std::int64_t count, int bits, std::int64_t w) {
  std::uint32_t v = 0;
  for (std::int64_t i = w * 32 / bits; i < count && i * bits < (w + 1) * 32; ++i) {
    const std::int64_t off = i * bits - w * 32;
    const std::uint32_t code = codes[i];
    v |= off >= 0 ? code << off : code >> -off;
  }
  return v;
}

/// The smallest run of whole 32-bit words holding whole codes: 1 word of 8 codes (4 bits), 1 word of 4 codes
/// (8 bits), 3 words of 32 codes (3 bits). Kernels stream whole chunks, so no code is split between loads.
template <int Bits>
struct Chunk {
  static constexpr int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }
  static constexpr int words = Bits / gcd(Bits, 32);
  static constexpr int codes = 32 * words / Bits;
};

/// Code j (0 <= j < Chunk<Bits>::codes) of a chunk held in registers; j is a constant after unrolling.
template <int Bits>
PTQ_HOST_DEVICE std::uint32_t chunk_code(const std::uint32_t (&w)[Chunk<Bits>::words], int j) {
  const int bit = j * Bits, wi = bit / 32, off = bit % 32;
  std::uint32_t v = w[wi] >> off;
  if (off + Bits > 32) v |= w[wi + 1] << (32 - off);
  return v & ((1u << Bits) - 1);
}

/// The shape of a packed weight W (n, k) and of its arrays.
struct PackedLayout {
  std::int64_t n = 0, k = 0;  // (out_features, in_features)
  std::int64_t group = 0;     // input channels per scale (k when per channel)
  int bits = 0;               // code width

  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t groups() const { return (k + group - 1) / group; }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t words_per_row() const { return bitstream_words(k, bits); }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t zero_words_per_row() const { return bitstream_words(groups(), bits); }
};

/// A packed weight's arrays, borrowed (host or device memory: the pointer's owner says which).
struct PackedView : PackedLayout {
  const std::uint32_t* qweight = nullptr;  // (n, words_per_row())
  const std::uint16_t* scales = nullptr;   // (n, groups()) fp16 bits
  const std::uint32_t* qzeros = nullptr;   // (n, zero_words_per_row())
  const std::int32_t* g_idx = nullptr;     // (k) or null: channel / group

  [[nodiscard]] PTQ_HOST_DEVICE std::uint32_t code(std::int64_t row, std::int64_t col) const {
    return bitstream_get(qweight + row * words_per_row(), col, bits);
  }
  [[nodiscard]] PTQ_HOST_DEVICE std::uint32_t zero(std::int64_t row, std::int64_t g) const {
    return bitstream_get(qzeros + row * zero_words_per_row(), g, bits);
  }
};

}  // namespace ptq
