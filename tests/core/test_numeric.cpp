// bf16 / fp16 conversions, exhaustively over all 65,536 bit patterns against reference formulas
// computed independently in double precision.
#include "ptq/core/numeric.hpp"

#include "test_util.hpp"

#include <cmath>
#include <limits>

namespace {

// Value of a 16-bit pattern from its fields: (-1)^s * 2^(e - bias) * (1 + m / 2^mbits), or subnormal.
double decode(std::uint16_t bits, int ebits, int mbits) {
  const int sign = bits >> 15;
  const int e = (bits >> mbits) & ((1 << ebits) - 1);
  const int m = bits & ((1 << mbits) - 1);
  const int bias = (1 << (ebits - 1)) - 1;
  double v;
  if (e == (1 << ebits) - 1) v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (e == 0) v = std::ldexp(m, 1 - bias - mbits);
  else v = std::ldexp((1 << mbits) + m, e - bias - mbits);
  return sign ? -v : v;
}

// Round-to-nearest-even of x onto the 16-bit format by searching the ordered positive patterns.
std::uint16_t encode_ref(double x, int ebits, int mbits) {
  const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  const std::uint16_t inf = static_cast<std::uint16_t>(((1 << ebits) - 1) << mbits);
  // Largest finite plus half an ulp rounds to infinity (ties go to the even pattern, which is Inf).
  const double max_finite = decode(inf - 1, ebits, mbits);
  const double half_ulp = (max_finite - decode(inf - 2, ebits, mbits)) / 2;
  if (a >= max_finite + half_ulp) return sign | inf;
  std::uint16_t lo = 0, hi = inf - 1;  // largest pattern with value <= a
  while (lo < hi) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi + 1) / 2);
    if (decode(mid, ebits, mbits) <= a) lo = mid; else hi = mid - 1;
  }
  if (lo == inf - 1) return sign | lo;
  const double below = decode(lo, ebits, mbits), above = decode(lo + 1, ebits, mbits);
  const double d_lo = a - below, d_hi = above - a;
  const std::uint16_t r = d_lo < d_hi ? lo : d_hi < d_lo ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
  return sign | r;
}

template <class H>
void check_format(int ebits, int mbits) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const H h{static_cast<std::uint16_t>(b)};
    const double ref = decode(h.bits, ebits, mbits);
    const float f = ptq::to_float(h);
    INFO("pattern 0x" << std::hex << b);
    if (std::isnan(ref)) {
      REQUIRE(std::isnan(f));
      H back;
      if constexpr (std::is_same_v<H, ptq::bf16>) back = ptq::to_bf16(f); else back = ptq::to_fp16(f);
      REQUIRE(std::isnan(decode(back.bits, ebits, mbits)));  // NaN stays NaN
      REQUIRE((back.bits & 0x8000) == (h.bits & 0x8000));    // with its sign
      continue;
    }
    REQUIRE(static_cast<double>(f) == ref);  // widening is exact
    REQUIRE(std::signbit(f) == std::signbit(ref));
    auto narrow = [](float x) {
      if constexpr (std::is_same_v<H, ptq::bf16>) return ptq::to_bf16(x).bits; else return ptq::to_fp16(x).bits;
    };
    REQUIRE(narrow(f) == h.bits);  // round trip
    if (std::isinf(ref) || (h.bits & 0x7fff) == static_cast<std::uint16_t>(((1 << ebits) - 1) << mbits) - 1) continue;
    // Points between this pattern and the next one up in magnitude: the exact midpoint (a tie), one
    // float ulp either side of it, and a quarter of the way. All are floats; the reference rounds in double.
    const double next = decode(static_cast<std::uint16_t>(h.bits + 1), ebits, mbits);
    const float mid = static_cast<float>((ref + next) / 2);
    REQUIRE(static_cast<double>(mid) == (ref + next) / 2);  // representable in float for both formats
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, mid * 2), static_cast<float>(ref + (next - ref) / 4)}) {
      INFO("x = " << x);
      REQUIRE(narrow(x) == encode_ref(x, ebits, mbits));
    }
  }
}

}  // namespace

TEST_CASE("bf16 conversions are exact and round to nearest even on all 65,536 patterns", "[core][numeric]") {
  check_format<ptq::bf16>(8, 7);
}

TEST_CASE("fp16 conversions are exact and round to nearest even on all 65,536 patterns", "[core][numeric]") {
  check_format<ptq::fp16>(5, 10);
}

TEST_CASE("float to 16-bit: overflow, underflow and specials", "[core][numeric]") {
  CHECK(ptq::to_fp16(65504.0f).bits == 0x7bff);
  CHECK(ptq::to_fp16(65519.996f).bits == 0x7bff);
  CHECK(ptq::to_fp16(65520.0f).bits == 0x7c00);   // tie at max + half ulp rounds to even = Inf
  CHECK(ptq::to_fp16(1e10f).bits == 0x7c00);
  CHECK(ptq::to_fp16(-1e10f).bits == 0xfc00);
  CHECK(ptq::to_fp16(2.9802322e-08f).bits == 0x0000);  // exactly half the smallest subnormal: tie to 0
  CHECK(ptq::to_fp16(2.9802326e-08f).bits == 0x0001);  // just above: rounds up
  CHECK(ptq::to_fp16(-0.0f).bits == 0x8000);
  CHECK(ptq::to_bf16(std::numeric_limits<float>::max()).bits == 0x7f80);  // rounds to Inf
  CHECK(ptq::to_bf16(std::numeric_limits<float>::infinity()).bits == 0x7f80);
  CHECK(ptq::to_bf16(1.0f + 1.0f / 256).bits == 0x3f80);  // tie, even stays 1.0
  CHECK(ptq::to_bf16(1.0f + 3.0f / 256).bits == 0x3f82);  // tie, odd goes up
  CHECK(std::isnan(ptq::to_float(ptq::to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(ptq::to_float(ptq::to_fp16(std::numeric_limits<float>::signaling_NaN()))));
}
