/// @file Quantized-weight GEMM on tensor cores (prefill, batches above the GEMV's rows): y (m, n) = x (m, k) · W^T,
/// x and y fp16 or bf16, W packed in ptq's native layout (3/4/8-bit codes, groups or per channel, symmetric or
/// asymmetric, act-order g_idx). Each block computes a Tile::M x Tile::N tile of y, stepping Tile::K input channels:
/// the activation tile is copied to shared memory, the weight tile is dequantized chunk by chunk into shared memory
/// in the activation dtype (the product then runs on WMMA 16x16x16 fragments with float32 accumulators), so the
/// codes are read from global memory once per block row. With Stages = 2 the next tile is loaded and dequantized
/// into a second buffer while the current one is multiplied. 8 warps in a 2 x 4 grid, each owning
/// (Tile::M / 2) x (Tile::N / 4) of the output.
///
///   using Cfg = ptq::cuda::GemmConfig<ptq::W4G128Sym, ptq::cuda::Tile<64, 128, 64>, 2>;
///   ptq::cuda::gemm_wa16<Cfg>(x, m, view, y, stream);
/// Requirements (else cudaErrorInvalidValue): the view in Cfg::Scheme (bits, group size), k a multiple of Tile::K,
/// x 16-byte aligned. dequantize_wa16 expands a packed weight to a dense one (cuBLAS fallback, tests).
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <mma.h>

namespace ptq::cuda {

namespace detail {
inline constexpr int kGemmWarpsM = 2, kGemmWarpsN = 4, kGemmThreads = 32 * kGemmWarpsM * kGemmWarpsN;
inline constexpr int kSmemPad = 8;  // halves of padding per shared row: rows stay 16-byte aligned, banks shift

/// Dequantizes the chunk of row `row` starting at input channel k0 (Chunk::codes channels) into `out` as T.
template <class Scheme, class T>
__device__ __forceinline__ void dequantize_chunk(const PackedView& w, std::int64_t row, std::int64_t k0, T* out) {
  constexpr int Bits = Scheme::bits;
  using C = Chunk<Bits>;
  static_assert(Scheme::group_size == kPerChannel || Scheme::group_size % C::codes == 0, "a chunk must not span groups");
  std::uint32_t words[C::words];
  const std::uint32_t* q = w.qweight + row * w.words_per_row() + k0 / C::codes * C::words;
#pragma unroll
  for (int i = 0; i < C::words; ++i) words[i] = __ldg(q + i);
  if (w.g_idx == nullptr) {
    const float2 sz = group_params(w, row, group_index<Scheme>(w, k0));
#pragma unroll
    for (int j = 0; j < C::codes; ++j) out[j] = from_f32<T>(sz.x * (static_cast<float>(chunk_code<Bits>(words, j)) - sz.y));
  } else {
#pragma unroll
    for (int j = 0; j < C::codes; ++j) {
      const float2 sz = group_params(w, row, group_index<Scheme>(w, k0 + j));
      out[j] = from_f32<T>(sz.x * (static_cast<float>(chunk_code<Bits>(words, j)) - sz.y));
    }
  }
}
}  // namespace detail

template <class Cfg>
struct GemmSmem {  // shared-memory plan of one block, in elements of the activation dtype
  static constexpr int bm = Cfg::TileShape::M, bn = Cfg::TileShape::N, bk = Cfg::TileShape::K;
  static constexpr int ld = bk + detail::kSmemPad;
  static constexpr int stage = (bm + bn) * ld;
  template <class T>
  static constexpr std::size_t bytes = static_cast<std::size_t>(Cfg::stages) * stage * sizeof(T) +
                                       detail::kGemmThreads / 32 * 256 * sizeof(float);  // + output staging
};

template <class Cfg, Half16 T>
__global__ void __launch_bounds__(detail::kGemmThreads)
    gemm_wa16_kernel(const T* __restrict__ x, int m, PackedView w, T* __restrict__ y) {
  namespace wmma = nvcuda::wmma;
  using S = GemmSmem<Cfg>;
  constexpr int kBits = Cfg::Scheme::bits, BM = S::bm, BN = S::bn, BK = S::bk, LD = S::ld;
  constexpr int kWarpM = BM / detail::kGemmWarpsM, kWarpN = BN / detail::kGemmWarpsN;
  constexpr int kFragM = kWarpM / 16, kFragN = kWarpN / 16;
  using C = Chunk<kBits>;
  static_assert(kWarpM % 16 == 0 && kWarpN % 16 == 0, "each warp owns whole 16x16 fragments");
  static_assert(BK % 16 == 0 && BK % C::codes == 0, "Tile::K: whole fragments and whole chunks");

  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  float* staging = reinterpret_cast<float*>(smem_raw + Cfg::stages * S::stage * sizeof(T));
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / detail::kGemmWarpsN, wn = warp % detail::kGemmWarpsN;
  const std::int64_t m0 = static_cast<std::int64_t>(blockIdx.y) * BM, n0 = static_cast<std::int64_t>(blockIdx.x) * BN;

  // Tile t into stage buffer b: x rows [m0, m0 + BM) (zeros past m), W rows [n0, n0 + BN) dequantized (zeros past n).
  auto load = [&](std::int64_t t, int b) {
    T* as = smem + b * S::stage;
    T* bs = as + BM * LD;
    const std::int64_t k0 = t * BK;
    for (int i = tid; i < BM * BK / 8; i += detail::kGemmThreads) {  // 16-byte vectors of 8 activations
      const int r = i / (BK / 8), c = i % (BK / 8) * 8;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (m0 + r < m) v = *reinterpret_cast<const uint4*>(x + (m0 + r) * w.k + k0 + c);
      *reinterpret_cast<uint4*>(as + r * LD + c) = v;
    }
    for (int i = tid; i < BN * (BK / C::codes); i += detail::kGemmThreads) {
      const int r = i / (BK / C::codes), c = i % (BK / C::codes) * C::codes;
      if (n0 + r < w.n) {
        detail::dequantize_chunk<typename Cfg::Scheme>(w, n0 + r, k0 + c, bs + r * LD + c);
      } else {
#pragma unroll
        for (int j = 0; j < C::codes; ++j) bs[r * LD + c + j] = from_f32<T>(0.0f);
      }
    }
  };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kFragM][kFragN];
#pragma unroll
  for (int i = 0; i < kFragM; ++i)
#pragma unroll
    for (int j = 0; j < kFragN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const std::int64_t tiles = w.k / BK;
  if constexpr (Cfg::stages == 2) load(0, 0);
  for (std::int64_t t = 0; t < tiles; ++t) {
    const int b = Cfg::stages == 2 ? static_cast<int>(t % 2) : 0;
    if constexpr (Cfg::stages == 2) {
      __syncthreads();                          // tile t is in buffer b; buffer 1 - b is free
      if (t + 1 < tiles) load(t + 1, 1 - b);
    } else {
      __syncthreads();                          // the previous tile's fragments are read
      load(t, 0);
      __syncthreads();
    }
    const T* as = smem + b * S::stage;
    const T* bs = as + BM * LD;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[kFragM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[kFragN];
#pragma unroll
      for (int i = 0; i < kFragM; ++i) wmma::load_matrix_sync(fa[i], as + (wm * kWarpM + i * 16) * LD + kk, LD);
#pragma unroll
      for (int j = 0; j < kFragN; ++j) wmma::load_matrix_sync(fb[j], bs + (wn * kWarpN + j * 16) * LD + kk, LD);
#pragma unroll
      for (int i = 0; i < kFragM; ++i)
#pragma unroll
        for (int j = 0; j < kFragN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }

  float* mine = staging + warp * 256;  // each warp stages one 16x16 fragment at a time
#pragma unroll
  for (int i = 0; i < kFragM; ++i)
#pragma unroll
    for (int j = 0; j < kFragN; ++j) {
      wmma::store_matrix_sync(mine, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const std::int64_t r = m0 + wm * kWarpM + i * 16 + e / 16, c = n0 + wn * kWarpN + j * 16 + e % 16;
        if (r < m && c < w.n) y[r * w.n + c] = from_f32<T>(mine[e]);
      }
      __syncwarp();
    }
}

/// Whether gemm_wa16<Cfg> accepts this product.
template <class Cfg, class T>
bool gemm_wa16_supports(int m, const PackedView& w, const T* x) {
  return m >= 1 && scheme_matches<typename Cfg::Scheme>(w) && w.k % Cfg::TileShape::K == 0 &&
         reinterpret_cast<std::uintptr_t>(x) % 16 == 0;
}

/// Launches y (m, n) = x (m, k) · W^T on `stream`.
template <class Cfg, Half16 T>
cudaError_t gemm_wa16(const T* x, int m, const PackedView& w, T* y, cudaStream_t stream = nullptr) {
  if (!gemm_wa16_supports<Cfg>(m, w, x)) return cudaErrorInvalidValue;
  constexpr std::size_t bytes = GemmSmem<Cfg>::template bytes<T>;
  const cudaError_t e = cudaFuncSetAttribute(gemm_wa16_kernel<Cfg, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(bytes));
  if (e != cudaSuccess) return e;
  const dim3 grid(blocks_for(w.n, Cfg::TileShape::N), blocks_for(m, Cfg::TileShape::M));
  gemm_wa16_kernel<Cfg, T><<<grid, detail::kGemmThreads, bytes, stream>>>(x, m, w, y);
  return cudaGetLastError();
}

template <QuantSchemeLike Scheme, Half16 T>
__global__ void dequantize_wa16_kernel(PackedView w, T* __restrict__ out) {
  using C = Chunk<Scheme::bits>;
  const std::int64_t per_row = w.k / C::codes;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= w.n * per_row) return;
  const std::int64_t row = i / per_row, k0 = i % per_row * C::codes;
  detail::dequantize_chunk<Scheme>(w, row, k0, out + row * w.k + k0);
}

/// out (n, k) = the dense weight in T; the view in Scheme, k a multiple of the chunk.
template <QuantSchemeLike Scheme, Half16 T>
cudaError_t dequantize_wa16(const PackedView& w, T* out, cudaStream_t stream = nullptr) {
  if (!scheme_matches<Scheme>(w) || w.k % Chunk<Scheme::bits>::codes != 0) return cudaErrorInvalidValue;
  const std::int64_t chunks = w.n * (w.k / Chunk<Scheme::bits>::codes);
  dequantize_wa16_kernel<Scheme, T><<<blocks_for(chunks, 256), 256, 0, stream>>>(w, out);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
