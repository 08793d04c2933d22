/// @file Quantization grids and packing on the GPU, shared by GPTQ (quant/cuda/gptq.cuh) and AWQ (quant/cuda/awq.cuh):
/// the device versions of quantizer.hpp's find_params (Grid::kGptq and Grid::kAwq, scales rounded to fp16 first),
/// quantize_code, and the bitstream packing of quant/packed.hpp. Divisions and products use the _rn intrinsics so
/// that nvcc contracts nothing the CPU computes in two roundings.
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/quant/packed_image.hpp"

namespace ptq::cuda::detail {

__device__ __forceinline__ float fp16_scale(float s) {
  const float r = __half2float(__float2half_rn(s));
  return r > 0 ? r : 5.9604644775390625e-08f;
}

/// The GPTQ grid of a run of values (quantizer.hpp find_params, Grid::kGptq), fp16-rounded scale.
template <class Scheme>
__device__ __forceinline__ float2 gptq_grid(float lo, float hi) {
  constexpr int maxq = Scheme::maxq;
  float xmin = fminf(lo, 0.0f), xmax = fmaxf(hi, 0.0f);
  if constexpr (Scheme::symmetry == Symmetry::kSymmetric) {
    xmax = fmaxf(-xmin, xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
  const float scale = fp16_scale(__fdiv_rn(__fsub_rn(xmax, xmin), static_cast<float>(maxq)));
  const float zero = Scheme::symmetry == Symmetry::kSymmetric
                         ? static_cast<float>((maxq + 1) / 2)
                         : fminf(fmaxf(rintf(__fdiv_rn(-xmin, scale)), 0.0f), static_cast<float>(maxq));
  return {scale, zero};
}

/// clamp(round(w / scale) + zero, 0, maxq), ties to even, as quantize_code.
__device__ __forceinline__ int quantize_code(float w, float2 p, int maxq) {
  return min(max(static_cast<int>(rintf(__fdiv_rn(w, p.x))) + static_cast<int>(p.y), 0), maxq);
}

/// The AWQ grid of a group with extremes lo, hi (quantizer.hpp find_params, Grid::kAwq), fp16-rounded scale.
template <class Scheme>
__device__ __forceinline__ float2 awq_grid(float lo, float hi) {
  constexpr int maxq = Scheme::maxq;
  if constexpr (Scheme::symmetry == Symmetry::kSymmetric) {
    const float amax = fmaxf(-lo, hi);
    return {fp16_scale(__fdiv_rn(fmaxf(amax, 1e-5f), static_cast<float>((1 << (Scheme::bits - 1)) - 1))),
            static_cast<float>(1 << (Scheme::bits - 1))};
  } else {
    const float scale = fp16_scale(__fdiv_rn(fmaxf(__fsub_rn(hi, lo), 1e-5f), static_cast<float>(maxq)));
    return {scale, fminf(fmaxf(-rintf(__fdiv_rn(lo, scale)), 0.0f), static_cast<float>(maxq))};
  }
}

/// scale · (code − zero), as dequantize_code.
__device__ __forceinline__ float dequantize_code(int q, float2 p) { return __fmul_rn(p.x, static_cast<float>(q - static_cast<int>(p.y))); }

/// out rows (n, words) = bitstream of `bits`-wide codes (n, count); one thread per output word.
static __global__ void pack_bits_kernel(const std::uint8_t* codes, std::int64_t n, std::int64_t count, int bits,
                                 std::uint32_t* out) {
  const std::int64_t words = (count * bits + 31) / 32;
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * words) return;
  const std::int64_t r = idx / words, w = idx % words;
  std::uint32_t v = 0;
  for (std::int64_t i = w * 32 / bits; i < count && i * bits < (w + 1) * 32; ++i) {
    const std::int64_t off = i * bits - w * 32;
    const std::uint32_t code = codes[r * count + i];
    v |= off >= 0 ? code << off : code >> -off;
  }
  out[idx] = v;
}

/// Scales (n, groups) fp16 and zeros (n, groups) from the grid (groups, n).
static __global__ void grid_to_rows_kernel(const float2* grid, std::int64_t n, std::int64_t groups, std::uint16_t* scales,
                                    std::uint8_t* zeros) {
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * groups) return;
  const std::int64_t r = idx / groups, g = idx % groups;
  const float2 p = grid[g * n + r];
  scales[idx] = __half_as_ushort(__float2half_rn(p.x));
  zeros[idx] = static_cast<std::uint8_t>(p.y);
}

/// The packed weight (ptq's native layout, on the host) of codes (n, k) and grids (groups, n) on the device.
template <QuantSchemeLike Scheme>
PackedArrays pack_arrays(const std::uint8_t* codes, const float2* grid, std::int64_t n, std::int64_t k) {
  const std::int64_t gs = Scheme::group_size == kPerChannel ? k : Scheme::group_size, groups = (k + gs - 1) / gs;
  const std::int64_t words = (k * Scheme::bits + 31) / 32, zero_words = (groups * Scheme::bits + 31) / 32;
  DeviceBuffer<std::uint32_t> qweight(static_cast<std::size_t>(n * words)), qzeros(static_cast<std::size_t>(n * zero_words));
  DeviceBuffer<std::uint16_t> scales(static_cast<std::size_t>(n * groups));
  DeviceBuffer<std::uint8_t> zeros(static_cast<std::size_t>(n * groups));
  pack_bits_kernel<<<blocks_for(n * words, 256), 256>>>(codes, n, k, Scheme::bits, qweight.get());
  grid_to_rows_kernel<<<blocks_for(n * groups, 256), 256>>>(grid, n, groups, scales.get(), zeros.get());
  pack_bits_kernel<<<blocks_for(n * zero_words, 256), 256>>>(zeros.get(), n, groups, Scheme::bits, qzeros.get());
  throw_if_failed(cudaGetLastError(), "packing");
  return {Scheme::bits, Scheme::group_size, Scheme::symmetry == Symmetry::kSymmetric, n, k,
          qweight.download(), qzeros.download(), scales.download(), {}};
}

}  // namespace ptq::cuda::detail
