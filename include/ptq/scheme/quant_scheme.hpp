/// @file QuantScheme: a quantization scheme as a compile-time type, for code whose generated instructions depend on it
/// (kernels, packing). Ground floor: shared by host code and CUDA kernels (no fmt, no exceptions, so nvcc compiles it
/// as it is). scheme/quant_spec.hpp holds the same scheme as runtime data.
#pragma once

#include <concepts>
#include <cstdint>

namespace ptq {

enum class Symmetry : std::uint8_t { kSymmetric, kAsymmetric };
inline constexpr int kPerChannel = 0;  // group_size value meaning one group per output row

template <int Bits, int GroupSize, Symmetry Sym>
struct QuantScheme {
  static_assert(2 <= Bits && Bits <= 8, "bits out of range");
  static_assert(GroupSize == kPerChannel || (GroupSize > 0 && GroupSize % 8 == 0), "group size: 0 or a multiple of 8");
  static constexpr int bits = Bits;              // code width
  static constexpr int group_size = GroupSize;   // input channels sharing a scale (kPerChannel: the whole row)
  static constexpr Symmetry symmetry = Sym;      // symmetric: fixed mid-range zero point
  static constexpr int maxq = (1 << Bits) - 1;   // codes are unsigned 0..maxq
};

template <class S>
concept QuantSchemeLike = requires {
  { S::bits } -> std::convertible_to<int>;
  { S::group_size } -> std::convertible_to<int>;
  { S::symmetry } -> std::convertible_to<Symmetry>;
} && (S::maxq == (1 << S::bits) - 1);

// The leaderboard rows' schemes.
using W4G128Sym = QuantScheme<4, 128, Symmetry::kSymmetric>;    // RTN and GPTQ rows
using W4G128Asym = QuantScheme<4, 128, Symmetry::kAsymmetric>;  // AWQ row (zero point)
using W3G128Asym = QuantScheme<3, 128, Symmetry::kAsymmetric>;
using W8PerChannelSym = QuantScheme<8, kPerChannel, Symmetry::kSymmetric>;
static_assert(QuantSchemeLike<W4G128Sym> && QuantSchemeLike<W3G128Asym> && QuantSchemeLike<W8PerChannelSym>);

}  // namespace ptq
