/// @file Packing kernels (quant/cuda/pack_arrays.cuh's pack_arrays runs them): codes (one byte each) into the native
/// bitstream, one thread a word (scheme/packed_layout.hpp's bitstream_word), and group grids into fp16 scales and zero
/// points by row. Each kernel has its launcher, which returns the launch's cudaError_t.
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/scheme/grid.hpp"

namespace ptq::cuda {

namespace detail {

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

}  // namespace detail

/// out (n, bitstream_words(count, bits)) = the bitstream of each row of codes (n, count).
inline cudaError_t pack_bits(const std::uint8_t* codes, std::int64_t n, std::int64_t count, int bits, std::uint32_t* out) {
  const std::int64_t words = n * bitstream_words(count, bits);
  if (words > 0) detail::pack_bits_kernel<<<blocks_for(words, 256), 256>>>(codes, n, count, bits, out);
  return cudaGetLastError();
}
/// scales (n, groups) fp16 bits and zeros (n, groups) from the grid (groups, n).
inline cudaError_t grid_to_rows(const GroupParams* grid, std::int64_t n, std::int64_t groups, std::uint16_t* scales,
                                std::uint8_t* zeros) {
  if (n * groups > 0) detail::grid_to_rows_kernel<<<blocks_for(n * groups, 256), 256>>>(grid, n, groups, scales, zeros);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
