/// @file Vectorizable float32 math for hot loops (softmax, log-sum-exp).
///
/// std::exp is a scalar library call that compilers do not vectorize without -ffast-math; exp_approx
/// is branch-free arithmetic that they do. Accuracy: within 2 ulp of expf on [-87, 88] (tested against
/// std::exp in double); inputs below -87.3 give ~1e-38 instead of 0, which no sum of exponentials notices.
#pragma once

#include "ptq/core/config.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>

namespace ptq {

PTQ_HOST_DEVICE float exp_approx(float x) {
  x = std::min(std::max(x, -87.3f), 88.7f);
  // x = n ln2 + r, |r| <= ln2 / 2; n rounded to nearest with the 1.5 * 2^23 trick (no floor call).
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln2 split hi + lo (Cephes)
  // Cephes expf minimax polynomial for e^r on the reduced range.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as a float: n in [-126, 128). A NaN x leaves n NaN, whose conversion to int is undefined (UBSan found it
  // in the NaN-activation test): convert 0 instead; p is NaN, so the result still is.
  const auto e = static_cast<std::int32_t>(n == n ? n : 0.0f) + 127;
  return p * std::bit_cast<float>(static_cast<std::uint32_t>(e) << 23);
}

}  // namespace ptq
