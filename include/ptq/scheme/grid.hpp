/// @file Per-group quantization grids with the conventions of the reference implementations, once for the host and
/// the device (the CPU quantizers in quant/, the GPU ones in quant/cuda/). Ground floor: no fmt, no exceptions.
///
/// Codes are unsigned 0..maxq (maxq = 2^bits - 1); a weight dequantizes to scale * (code - zero).
/// Scales are rounded to fp16 *before* codes are computed, so a packed checkpoint (fp16 scales) is exactly
/// the model that was evaluated. Codes round half to even, like torch.round.
///
/// Grid::kGptq — IST-DASLab/gptq quant.py `Quantizer.find_params`, used by RTN and GPTQ:
///   xmin = min(min w, 0), xmax = max(max w, 0)                  (the range always contains 0)
///   sym:  xmax = max(|xmin|, xmax), xmin = -xmax if xmin < 0;  zero = (maxq + 1) / 2
///   asym: zero = round(-xmin / scale)
///   xmin == xmax == 0 -> [-1, 1];  scale = (xmax - xmin) / maxq
/// Grid::kAwq — AutoAWQ / llm-awq `pseudo_quantize_tensor`:
///   asym: scale = max(max w - min w, 1e-5) / maxq, zero = clamp(-round(min w / scale), 0, maxq)
///         (the range is not forced to contain 0)
///   sym:  scale = max|w| / (2^(bits-1) - 1), zero = 2^(bits-1)  (codes = signed q + 2^(bits-1))
/// Every product, quotient and difference is one IEEE operation on both devices: the device path spells them with
/// the _rn intrinsics so that nvcc contracts nothing the host computes in two roundings.
#pragma once

#include "ptq/core/numeric.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <cmath>
#if defined(__CUDACC__)
#include <cuda_fp16.h>
#endif

namespace ptq {

enum class Grid : std::uint8_t { kGptq, kAwq };

struct GroupParams {
  float scale = 1;  // fp16-representable
  int zero = 0;     // 0..maxq
};

namespace detail {
#if defined(__CUDA_ARCH__)
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float fp16_round(float s) { return __half2float(__float2half_rn(s)); }
#else
inline float div_rn(float a, float b) { return a / b; }
inline float mul_rn(float a, float b) { return a * b; }
inline float sub_rn(float a, float b) { return a - b; }
inline float fp16_round(float s) { return to_float(to_fp16(s)); }
#endif
PTQ_HOST_DEVICE int clamp_code(int q, int maxq) { return q < 0 ? 0 : q > maxq ? maxq : q; }
PTQ_HOST_DEVICE int round_even(float x) { return static_cast<int>(rintf(x)); }  // default rounding mode: ties to even
}  // namespace detail

/// Rounds a positive scale to fp16, keeping it at least the smallest fp16 subnormal.
PTQ_HOST_DEVICE float fp16_scale(float s) {
  const float r = detail::fp16_round(s);
  return r > 0 ? r : 5.9604644775390625e-08f;
}

/// The grid of a group whose smallest and largest weights are lo and hi.
PTQ_HOST_DEVICE GroupParams grid_params(float lo, float hi, const QuantSpec& spec, Grid grid) {
  const int maxq = spec.maxq();
  GroupParams p;
  if (grid == Grid::kGptq) {
    float xmin = lo < 0.0f ? lo : 0.0f, xmax = hi > 0.0f ? hi : 0.0f;
    if (spec.sym()) {
      xmax = -xmin > xmax ? -xmin : xmax;
      if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
    p.scale = fp16_scale(detail::div_rn(detail::sub_rn(xmax, xmin), static_cast<float>(maxq)));
    p.zero = spec.sym() ? (maxq + 1) / 2 : detail::clamp_code(detail::round_even(detail::div_rn(-xmin, p.scale)), maxq);
  } else if (spec.sym()) {
    const float amax = -lo > hi ? -lo : hi;
    p.scale = fp16_scale(detail::div_rn(amax > 1e-5f ? amax : 1e-5f, static_cast<float>((1 << (spec.bits - 1)) - 1)));
    p.zero = 1 << (spec.bits - 1);
  } else {
    const float range = detail::sub_rn(hi, lo);
    p.scale = fp16_scale(detail::div_rn(range > 1e-5f ? range : 1e-5f, static_cast<float>(maxq)));
    p.zero = detail::clamp_code(-detail::round_even(detail::div_rn(lo, p.scale)), maxq);
  }
  return p;
}

/// grid_params in a compile-time scheme (its constants fold into the arithmetic: the kernels' form).
template <QuantSchemeLike Scheme>
PTQ_HOST_DEVICE GroupParams scheme_grid(float lo, float hi, Grid grid) {
  return grid_params(lo, hi, QuantSpec{Scheme::bits, Scheme::group_size, Scheme::symmetry}, grid);
}

/// clamp(round(w / scale) + zero, 0, maxq), ties to even.
PTQ_HOST_DEVICE int quantize_code(float w, const GroupParams& p, int maxq) {
  return detail::clamp_code(detail::round_even(detail::div_rn(w, p.scale)) + p.zero, maxq);
}

/// scale · (code − zero).
PTQ_HOST_DEVICE float dequantize_code(int code, const GroupParams& p) {
  return detail::mul_rn(p.scale, static_cast<float>(code - p.zero));
}

}  // namespace ptq
