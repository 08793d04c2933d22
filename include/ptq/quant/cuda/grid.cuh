/// @file Packing on the GPU, shared by GPTQ (quant/cuda/gptq.cuh) and AWQ (quant/cuda/awq.cuh): a quantizer's codes
/// and group grids (the ground floor's grid_params, scheme/grid.hpp) into ptq's native layout
/// (scheme/packed_layout.hpp), returned to the host as PackedArrays.
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/quant/packed_arrays.hpp"
#include "ptq/scheme/grid.hpp"

namespace ptq::cuda::detail {

/// The grid of a group with extremes lo, hi in `Scheme` (the device's grid_params, the scheme a constant).
template <class Scheme, Grid G>
__device__ __forceinline__ GroupParams scheme_grid(float lo, float hi) {
  return grid_params(lo, hi, QuantSpec{Scheme::bits, Scheme::group_size, Scheme::symmetry}, G);
}

/// out rows (n, words) = bitstream of `bits`-wide codes (n, count); one thread per output word.
static __global__ void pack_bits_kernel(const std::uint8_t* codes, std::int64_t n, std::int64_t count, int bits,
                                 std::uint32_t* out) {
  const std::int64_t words = bitstream_words(count, bits);
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * words) return;
  out[idx] = bitstream_word(codes + idx / words * count, count, bits, idx % words);
}

/// Scales (n, groups) fp16 and zeros (n, groups) from the grid (groups, n).
static __global__ void grid_to_rows_kernel(const GroupParams* grid, std::int64_t n, std::int64_t groups, std::uint16_t* scales,
                                    std::uint8_t* zeros) {
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * groups) return;
  const std::int64_t r = idx / groups, g = idx % groups;
  const GroupParams p = grid[g * n + r];
  scales[idx] = __half_as_ushort(__float2half_rn(p.scale));
  zeros[idx] = static_cast<std::uint8_t>(p.zero);
}

/// The packed weight (ptq's native layout, on the host) of codes (n, k) and grids (groups, n) on the device.
template <QuantSchemeLike Scheme>
PackedArrays pack_arrays(const std::uint8_t* codes, const GroupParams* grid, std::int64_t n, std::int64_t k) {
  const PackedLayout layout{n, k, Scheme::group_size == kPerChannel ? k : Scheme::group_size, Scheme::bits};
  const std::int64_t groups = layout.groups(), words = layout.words_per_row(), zero_words = layout.zero_words_per_row();
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
