/// @file Causal grouped-query attention on the GPU, fused: scores, online softmax and the weighted sum of values in
/// one pass over the keys, never materializing the (T, T) score matrix (the CPU reference is
/// ref::causal_attention, kernels/ref/attention.hpp). Two kernels, float32 arithmetic in both:
/// - per query: one warp per (query, head), the lanes split head_dim (head_dim / 32 values each, <= kMaxHeadDim),
///   a shuffle reduction per key; every query reads its keys from global memory (short passes);
/// - tiled (flash-style): a block per (16 queries, head) walks the keys in tiles of 64 staged in shared memory, so
///   each key and value is read from global memory once per 16 queries instead of once per query; a lane scores
///   whole keys (two per tile) against the staged queries, the online softmax is updated once per tile, and the
///   weighted sum of values runs over the tile with the lanes splitting head_dim (2048-token windows and the
///   evaluation's 16,384-token packed passes).
/// Packed passes (kernels/score_batch.hpp's AttentionLayout): query t sees keys from its segment's first token to t
/// whose branch is 0 or its own, so several sequences and a prefix's continuations share one launch.
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <cmath>

namespace ptq::cuda {

inline constexpr int kMaxHeadDim = 256;

/// Device arrays of an AttentionLayout, per token; null pointers: one sequence (segment 0, every branch 0).
struct DeviceLayout {
  const std::int32_t* segment_start = nullptr;  // (T) first token of token t's segment
  const std::int32_t* branch = nullptr;         // (T) 0 = prefix, k = k-th continuation
};

/// q (T, heads, d), k and v (T, kv_heads, d) -> out (T, heads, d); query t sees keys segment_start[t]..t of
/// branch 0 or branch[t].
template <class T>
__global__ void causal_attention_kernel(const T* q, const T* k, const T* v, T* out, std::int64_t t_len, int heads,
                                        int kv_heads, int d, DeviceLayout layout) {
  constexpr int kPer = kMaxHeadDim / 32;
  const std::int64_t warp = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= t_len * heads) return;
  const std::int64_t t = warp / heads;
  const int head = static_cast<int>(warp % heads), kvh = head / (heads / kv_heads), per = d / 32;
  const float scale = rsqrtf(static_cast<float>(d));
  float qv[kPer], acc[kPer];
#pragma unroll
  for (int e = 0; e < kPer; ++e) {
    qv[e] = e < per ? to_f32(q[(t * heads + head) * d + e * 32 + lane]) * scale : 0.0f;
    acc[e] = 0.0f;
  }
  float run_max = -INFINITY, run_sum = 0.0f;
  const std::int64_t first = layout.segment_start ? layout.segment_start[t] : 0;
  const std::int32_t own = layout.branch ? layout.branch[t] : 0;
  for (std::int64_t s = first; s <= t; ++s) {
    if (layout.branch && layout.branch[s] != 0 && layout.branch[s] != own) continue;  // uniform across the warp
    const T* ks = k + (s * kv_heads + kvh) * d;
    float dot = 0.0f;
#pragma unroll
    for (int e = 0; e < kPer; ++e)
      if (e < per) dot += qv[e] * to_f32(ks[e * 32 + lane]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    const float new_max = fmaxf(run_max, dot);
    const float corr = __expf(run_max - new_max), p = __expf(dot - new_max);
    run_sum = run_sum * corr + p;
    run_max = new_max;
    const T* vs = v + (s * kv_heads + kvh) * d;
#pragma unroll
    for (int e = 0; e < kPer; ++e)
      if (e < per) acc[e] = acc[e] * corr + p * to_f32(vs[e * 32 + lane]);
  }
#pragma unroll
  for (int e = 0; e < kPer; ++e)
    if (e < per) out[(t * heads + head) * d + e * 32 + lane] = from_f32<T>(acc[e] / run_sum);
}

/// The tiled kernel's shape: queries per block, keys per shared-memory tile, warps per block (each warp owns
/// kAttnQueries / kAttnWarps queries and keeps their accumulators in registers).
inline constexpr int kAttnQueries = 16, kAttnKeys = 64, kAttnWarps = 8;

/// Shared memory of the tiled kernel for head dimension d: the block's queries (float32), a key tile with rows padded
/// by two elements (a lane reads its own key's row: the odd word stride keeps the 32 lanes on 32 banks), a value tile.
inline std::size_t tiled_attention_smem(int d) {
  return static_cast<std::size_t>(kAttnQueries) * d * sizeof(float) + static_cast<std::size_t>(kAttnKeys) * (d + 2) * 2 +
         static_cast<std::size_t>(kAttnKeys) * d * 2;
}

/// The tiled kernel: grid (ceil(T / kAttnQueries), heads), kAttnWarps warps; same contract as the per-query kernel.
template <class T>
__global__ void __launch_bounds__(kAttnWarps * 32)
    tiled_attention_kernel(const T* q, const T* k, const T* v, T* out, std::int64_t t_len, int heads, int kv_heads, int d,
                           DeviceLayout layout) {
  constexpr int kPerWarp = kAttnQueries / kAttnWarps, kPer = kMaxHeadDim / 32;
  extern __shared__ float4 smem[];
  const int kd = d + 2;
  float* qs = reinterpret_cast<float*>(smem);             // (kAttnQueries, d), scaled by 1/sqrt(d)
  T* ks = reinterpret_cast<T*>(qs + kAttnQueries * d);    // (kAttnKeys, kd)
  T* vs = ks + kAttnKeys * kd;                            // (kAttnKeys, d)
  const int head = static_cast<int>(blockIdx.y), kvh = head / (heads / kv_heads), per = d / 32;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * kAttnQueries;
  const std::int64_t t_last = (t0 + kAttnQueries < t_len ? t0 + kAttnQueries : t_len) - 1;
  const float scale = rsqrtf(static_cast<float>(d));
  for (int i = static_cast<int>(threadIdx.x); i < kAttnQueries * d; i += kAttnWarps * 32) {
    const std::int64_t t = t0 + i / d;
    qs[i] = t < t_len ? to_f32(q[(t * heads + head) * d + i % d]) * scale : 0.0f;
  }
  float acc[kPerWarp][kPer], run_max[kPerWarp], run_sum[kPerWarp];
  std::int64_t first[kPerWarp];
  std::int32_t own[kPerWarp];
#pragma unroll
  for (int j = 0; j < kPerWarp; ++j) {
    const std::int64_t t = t0 + warp * kPerWarp + j;
    first[j] = t <= t_last && layout.segment_start ? layout.segment_start[t] : 0;
    own[j] = t <= t_last && layout.branch ? layout.branch[t] : 0;
    run_max[j] = -INFINITY;
    run_sum[j] = 0.0f;
#pragma unroll
    for (int e = 0; e < kPer; ++e) acc[j][e] = 0.0f;
  }
  // Segments are contiguous and in order: the block's earliest visible key is its first query's segment start.
  const std::int64_t lo = layout.segment_start ? layout.segment_start[t0] : 0;
  for (std::int64_t s0 = lo; s0 <= t_last; s0 += kAttnKeys) {
    __syncthreads();  // the queries are staged; the previous tile is consumed
    for (int i = static_cast<int>(threadIdx.x); i < kAttnKeys * d; i += kAttnWarps * 32) {
      const int r = i / d, c = i % d;
      const std::int64_t s = s0 + r;
      if (s > t_last) continue;
      ks[r * kd + c] = k[(s * kv_heads + kvh) * d + c];
      vs[r * d + c] = v[(s * kv_heads + kvh) * d + c];
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kPerWarp; ++j) {
      const std::int64_t t = t0 + warp * kPerWarp + j;
      if (t > t_last || s0 > t) continue;  // uniform across the warp
      // Lane l scores keys s0 + l and s0 + 32 + l.
      const float* qv = qs + (warp * kPerWarp + j) * d;
      float sc[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = lane + 32 * h;
        const std::int64_t s = s0 + r;
        const bool visible = s >= first[j] && s <= t &&
                             (!layout.branch || layout.branch[s] == 0 || layout.branch[s] == own[j]);
        float dot = -INFINITY;
        if (visible) {
          const T* kr = ks + r * kd;
          dot = 0.0f;
          for (int e = 0; e < d; ++e) dot += qv[e] * to_f32(kr[e]);
        }
        sc[h] = dot;
      }
      float tile_max = fmaxf(sc[0], sc[1]);
#pragma unroll
      for (int off = 16; off > 0; off /= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, off));
      if (tile_max == -INFINITY) continue;  // no key of this tile is visible to t
      const float new_max = fmaxf(run_max[j], tile_max);
      const float corr = __expf(run_max[j] - new_max);
      const float p0 = __expf(sc[0] - new_max), p1 = __expf(sc[1] - new_max);
      float psum = p0 + p1;
#pragma unroll
      for (int off = 16; off > 0; off /= 2) psum += __shfl_xor_sync(0xffffffffu, psum, off);
      run_sum[j] = run_sum[j] * corr + psum;
      run_max[j] = new_max;
#pragma unroll
      for (int e = 0; e < kPer; ++e) acc[j][e] *= corr;
      const int r_end = static_cast<int>(t - s0 < kAttnKeys - 1 ? t - s0 : kAttnKeys - 1);
      for (int r = 0; r <= r_end; ++r) {
        const float p = __shfl_sync(0xffffffffu, r < 32 ? p0 : p1, r % 32);
        if (p == 0.0f) continue;  // invisible (or negligible) key: uniform across the warp
        const T* vr = vs + r * d;
#pragma unroll
        for (int e = 0; e < kPer; ++e)
          if (e < per) acc[j][e] += p * to_f32(vr[e * 32 + lane]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kPerWarp; ++j) {
    const std::int64_t t = t0 + warp * kPerWarp + j;
    if (t > t_last) continue;
#pragma unroll
    for (int e = 0; e < kPer; ++e)
      if (e < per) out[(t * heads + head) * d + e * 32 + lane] = from_f32<T>(acc[j][e] / run_sum[j]);
  }
}

/// Which attention kernel runs: kAuto takes the tiled one from kAttnQueries tokens on.
enum class AttentionKernel : std::uint8_t { kAuto, kPerQuery, kTiled };

/// Launches the attention; d must be a multiple of 32 and at most kMaxHeadDim, heads a multiple of kv_heads.
template <Half16 T>
cudaError_t causal_attention(const T* q, const T* k, const T* v, T* out, std::int64_t t_len, int heads, int kv_heads,
                             int d, DeviceLayout layout = {}, cudaStream_t stream = nullptr,
                             AttentionKernel kernel = AttentionKernel::kAuto) {
  if (d % 32 != 0 || d > kMaxHeadDim || kv_heads < 1 || heads % kv_heads != 0) return cudaErrorInvalidValue;
  if (t_len == 0) return cudaSuccess;
  if (kernel == AttentionKernel::kTiled || (kernel == AttentionKernel::kAuto && t_len >= kAttnQueries)) {
    const std::size_t smem = tiled_attention_smem(d);
    // Above the default 48 KB (head_dim > 128) the kernel must opt in to more shared memory.
    if (const cudaError_t e = cudaFuncSetAttribute(tiled_attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                   static_cast<int>(smem));
        e != cudaSuccess)
      return e;
    const dim3 grid(static_cast<unsigned>((t_len + kAttnQueries - 1) / kAttnQueries), static_cast<unsigned>(heads));
    tiled_attention_kernel<T><<<grid, kAttnWarps * 32, smem, stream>>>(q, k, v, out, t_len, heads, kv_heads, d, layout);
    return cudaGetLastError();
  }
  constexpr int kThreads = 256;
  causal_attention_kernel<T><<<blocks_for(t_len * heads * 32, kThreads), kThreads, 0, stream>>>(q, k, v, out, t_len,
                                                                                                heads, kv_heads, d, layout);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
