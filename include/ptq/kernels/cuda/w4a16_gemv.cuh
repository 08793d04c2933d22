/// @file W4A16 GEMV on the GPU: y (M, N) = x (M, K) · W^T for M <= Tile::M activation rows (decode and small
/// batches), W in ptq's native packed layout (quant/packed.hpp): per output row, K 4-bit codes 8 to a 32-bit
/// word, fp16 scales and bit-packed zero points per group. Dequantization is fused: each warp owns output rows,
/// each lane streams whole words of codes (32 bytes of weights per 8 lanes), expands them in registers and
/// accumulates s·(q − z)·x in float32 for all M rows at once, then CUB's WarpReduce sums the lanes.
/// The CPU reference is ptq::gemv_w4 (packed.hpp); tests/cuda/test_w4a16_gemv.cu compares them.
///
///   using Cfg = ptq::cuda::GemmConfig<ptq::W4G128Sym, ptq::cuda::Tile<8, 4, 4>, 1>;
///   ptq::cuda::gemv_w4a16<Cfg>(x, m, packed_device, y, stream);   // __half or __nv_bfloat16 activations
/// Limitations: 4-bit codes without act-order (g_idx), group size a multiple of 8 (as can_gemv_w4); K a multiple
/// of 8·Tile::K·32 is fastest, any multiple of 8 is correct. Tensor-core GEMM for larger M: not yet.
#pragma once

#include "ptq/quant/policy.hpp"

#include <cub/warp/warp_reduce.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace ptq::cuda {

/// Work shape: M activation rows per launch (registers per lane), N output rows per block (one warp each),
/// K words of codes per lane per step (loads in flight).
template <int M_, int N_, int K_>
struct Tile {
  static constexpr int M = M_, N = N_, K = K_;
};

/// A kernel configuration: the quantization scheme it reads, its tile and pipeline stages.
template <QuantSchemeLike Scheme_, class Tile_, int Stages_>
struct GemmConfig {
  using Scheme = Scheme_;
  using TileShape = Tile_;
  static constexpr int stages = Stages_;
  static_assert(Scheme::bits == 4, "this GEMV reads 4-bit codes");
  static_assert(Scheme::group_size == kPerChannel || Scheme::group_size % 8 == 0, "a word must not span groups");
};

/// Device view of a packed weight (ptq native layout).
struct PackedView {
  const std::uint32_t* qweight;  // (n, k / 8)
  const __half* scales;          // (n, groups)
  const std::uint32_t* qzeros;   // (n, ceil(groups * 4 / 32))
  std::int64_t n, k, group;      // group: input channels per scale (k when per channel)
};

inline __device__ float to_f32(__half v) { return __half2float(v); }
inline __device__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ T from_f32(float v);
template <> inline __device__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> inline __device__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <class Cfg, class T>
__global__ void __launch_bounds__(Cfg::TileShape::N * 32)
    gemv_w4a16_kernel(const T* __restrict__ x, int m, PackedView w, T* __restrict__ y) {
  constexpr int kM = Cfg::TileShape::M, kK = Cfg::TileShape::K;
  using WarpReduce = cub::WarpReduce<float>;
  __shared__ typename WarpReduce::TempStorage reduce[Cfg::TileShape::N];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * Cfg::TileShape::N + warp;
  if (row >= w.n) return;
  const std::int64_t words = w.k / 8, groups = (w.k + w.group - 1) / w.group;
  const std::int64_t zero_words = (groups * 4 + 31) / 32;
  const std::uint32_t* q = w.qweight + row * words;
  float acc[kM];
#pragma unroll
  for (int i = 0; i < kM; ++i) acc[i] = 0.0f;
  for (std::int64_t w0 = lane; w0 < words; w0 += 32 * kK) {
#pragma unroll
    for (int u = 0; u < kK; ++u) {
      const std::int64_t wi = w0 + 32 * u;
      if (wi >= words) break;
      const std::uint32_t word = __ldg(q + wi);
      const std::int64_t g = wi * 8 / w.group;
      const float s = __half2float(w.scales[row * groups + g]);
      const float z = static_cast<float>((w.qzeros[row * zero_words + g / 8] >> (4 * (g % 8))) & 15u);
      float deq[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) deq[j] = s * (static_cast<float>((word >> (4 * j)) & 15u) - z);
#pragma unroll
      for (int i = 0; i < kM; ++i) {
        if (i >= m) break;
        const T* xi = x + static_cast<std::int64_t>(i) * w.k + wi * 8;
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i] += deq[j] * to_f32(xi[j]);
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

/// Launches the GEMV for m <= Cfg::TileShape::M rows of x (m, k) into y (m, n) on `stream`.
template <class Cfg, class T>
cudaError_t gemv_w4a16(const T* x, int m, const PackedView& w, T* y, cudaStream_t stream = nullptr) {
  if (m < 1 || m > Cfg::TileShape::M || w.k % 8 != 0 || w.group % 8 != 0) return cudaErrorInvalidValue;
  const dim3 block(Cfg::TileShape::N * 32), grid(static_cast<unsigned>((w.n + Cfg::TileShape::N - 1) / Cfg::TileShape::N));
  gemv_w4a16_kernel<Cfg, T><<<grid, block, 0, stream>>>(x, m, w, y);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
