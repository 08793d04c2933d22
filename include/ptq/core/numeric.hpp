/// @file 16-bit float storage types (bf16, fp16) with exact round-to-nearest-even conversion.
///
/// Conversions are bit manipulations, so results do not depend on the host FPU's half support.
/// float -> bf16 / fp16 rounds to nearest, ties to even (as torch and CUDA's __float2half_rn do);
/// NaN stays NaN (canonical quiet NaN with the input's sign), overflow becomes Inf.
/// Limitations: assumes IEEE-754 binary32 `float` and the default rounding mode (no -ffast-math).
#pragma once

#include "ptq/core/config.hpp"

#include <cstdint>
#include <cstring>

namespace ptq {

/// bfloat16: 1 sign, 8 exponent, 7 mantissa bits; the upper half of a float32.
struct bf16 {
  std::uint16_t bits = 0;
};

/// IEEE-754 binary16: 1 sign, 5 exponent, 10 mantissa bits.
struct fp16 {
  std::uint16_t bits = 0;
};

static_assert(sizeof(bf16) == 2 && sizeof(fp16) == 2);

/// std::bit_cast for host and device code (nvcc does not allow std::bit_cast, a constexpr host function, in device
/// code); compilers turn the copy into a register move.
template <class To, class From>
PTQ_HOST_DEVICE To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

PTQ_HOST_DEVICE float to_float(bf16 h) { return ptq::bit_cast<float>(std::uint32_t{h.bits} << 16); }

PTQ_HOST_DEVICE bf16 to_bf16(float f) {
  const std::uint32_t x = ptq::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((x >> 16) | 0x0040u)};  // quiet NaN
  // Add 0x7fff plus the lowest kept bit: carries into the kept bits exactly when the dropped half is
  // above one half ulp, or equal to it with an odd kept part (ties to even). Overflow reaches Inf.
  const std::uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(rounded >> 16)};
}

PTQ_HOST_DEVICE float to_float(fp16 h) {
  const std::uint32_t sign = std::uint32_t{h.bits & 0x8000u} << 16;
  const std::uint32_t exp = (h.bits >> 10) & 0x1fu;
  const std::uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0x1f) return ptq::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // Inf / NaN
  if (exp != 0) return ptq::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return ptq::bit_cast<float>(sign | ptq::bit_cast<std::uint32_t>(magnitude));
}

PTQ_HOST_DEVICE fp16 to_fp16(float f) {
  std::uint32_t x = ptq::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  std::uint32_t out;
  if (x >= 0x47800000u) {  // |f| >= 65536 (or Inf/NaN): beyond any rounding to the largest half
    out = x > 0x7f800000u ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u;
  } else if (x < 0x38800000u) {  // |f| < 2^-14: result is subnormal or zero
    // Adding 0.5 aligns the value so that the float adder's own round-to-nearest-even drops exactly
    // the bits a half subnormal cannot hold; the low mantissa bits are then the half's bits.
    const float aligned = ptq::bit_cast<float>(x) + 0.5f;
    out = ptq::bit_cast<std::uint32_t>(aligned) - 0x3f000000u;
  } else {  // normal half: rebias the exponent, round the 13 dropped mantissa bits to even
    const std::uint32_t mant_odd = (x >> 13) & 1u;
    x += 0xc8000fffu + mant_odd;  // (15 - 127) << 23, plus the rounding increment
    out = x >> 13;                // a carry past 0x7bff lands exactly on Inf (0x7c00)
  }
  return fp16{static_cast<std::uint16_t>(out | sign)};
}

PTQ_HOST_DEVICE float to_float(float f) { return f; }

}  // namespace ptq
