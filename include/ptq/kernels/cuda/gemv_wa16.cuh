/// @file Quantized-weight GEMV on the GPU (decode and small batches): y (m, n) = x (m, k) · W^T for m <= Tile::M,
/// x and y fp16 or bf16, W packed in ptq's native layout with 3, 4 or 8-bit codes (any Scheme::bits whose chunk
/// fits, common.cuh), groups of any multiple of the chunk or per channel, symmetric or asymmetric, act-order g_idx.
/// Dequantization is fused: each warp owns output rows, each lane streams whole chunks of codes (one 32-bit word of
/// 8 codes for W4), expands them in registers and accumulates s·(q − z)·x in float32 for all m rows at once, then
/// CUB's WarpReduce sums the lanes. Reference: PackedWeight::dequantize_rows (quant/packed.hpp) and a
/// double-precision product (tests/cuda).
///
///   using Cfg = ptq::cuda::GemmConfig<ptq::W4G128Sym, ptq::cuda::Tile<8, 4, 2>, 1>;
///   ptq::cuda::gemv_wa16<Cfg>(x, m, view, y, stream);
/// Requirements (else cudaErrorInvalidValue): 1 <= m <= Tile::M, the view in Cfg::Scheme (bits, group size: a
/// compile-time constant in the kernel), k a multiple of the chunk (8 codes for W4, 32 for W3, 4 for W8).
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <cub/warp/warp_reduce.cuh>

namespace ptq::cuda {

template <class Cfg, Half16 T>
__global__ void __launch_bounds__(Cfg::TileShape::N * 32)
    gemv_wa16_kernel(const T* __restrict__ x, int m, PackedView w, T* __restrict__ y) {
  using Scheme = typename Cfg::Scheme;
  constexpr int kBits = Scheme::bits, kM = Cfg::TileShape::M, kK = Cfg::TileShape::K;
  using C = Chunk<kBits>;
  static_assert(Scheme::group_size == kPerChannel || Scheme::group_size % C::codes == 0, "a chunk must not span groups");
  using WarpReduce = cub::WarpReduce<float>;
  __shared__ typename WarpReduce::TempStorage reduce[Cfg::TileShape::N];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * Cfg::TileShape::N + warp;
  if (row >= w.n) return;
  const std::int64_t chunks = w.k / C::codes;
  const std::uint32_t* q = w.qweight + row * w.words_per_row();
  float acc[kM];
#pragma unroll
  for (int i = 0; i < kM; ++i) acc[i] = 0.0f;
  for (std::int64_t c0 = lane; c0 < chunks; c0 += 32 * kK) {
#pragma unroll
    for (int u = 0; u < kK; ++u) {
      const std::int64_t c = c0 + 32 * u;
      if (c >= chunks) break;
      std::uint32_t words[C::words];
#pragma unroll
      for (int i = 0; i < C::words; ++i) words[i] = __ldg(q + c * C::words + i);
      const std::int64_t k0 = c * C::codes;
      float deq[C::codes];
      if (w.g_idx == nullptr) {  // the whole chunk lies in one group
        const float2 sz = group_params(w, row, group_index<Scheme>(w, k0));
#pragma unroll
        for (int j = 0; j < C::codes; ++j) deq[j] = sz.x * (static_cast<float>(chunk_code<kBits>(words, j)) - sz.y);
      } else {
#pragma unroll
        for (int j = 0; j < C::codes; ++j) {
          const float2 sz = group_params(w, row, group_index<Scheme>(w, k0 + j));
          deq[j] = sz.x * (static_cast<float>(chunk_code<kBits>(words, j)) - sz.y);
        }
      }
#pragma unroll
      for (int i = 0; i < kM; ++i) {
        if (i >= m) break;
        const T* xi = x + static_cast<std::int64_t>(i) * w.k + k0;
#pragma unroll
        for (int j = 0; j < C::codes; ++j) acc[i] += deq[j] * to_f32(xi[j]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kM; ++i) {
    if (i >= m) break;
    const float total = WarpReduce(reduce[warp]).Sum(acc[i]);
    if (lane == 0) y[static_cast<std::int64_t>(i) * w.n + row] = from_f32<T>(total);
    __syncwarp();
  }
}

/// Whether gemv_wa16<Cfg> accepts this product.
template <class Cfg>
bool gemv_wa16_supports(int m, const PackedView& w) {
  return m >= 1 && m <= Cfg::TileShape::M && scheme_matches<typename Cfg::Scheme>(w) &&
         w.k % Chunk<Cfg::Scheme::bits>::codes == 0;
}

/// Launches y (m, n) = x (m, k) · W^T on `stream`.
template <class Cfg, Half16 T>
cudaError_t gemv_wa16(const T* x, int m, const PackedView& w, T* y, cudaStream_t stream = nullptr) {
  if (!gemv_wa16_supports<Cfg>(m, w)) return cudaErrorInvalidValue;
  gemv_wa16_kernel<Cfg, T><<<blocks_for(w.n, Cfg::TileShape::N), Cfg::TileShape::N * 32, 0, stream>>>(x, m, w, y);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
