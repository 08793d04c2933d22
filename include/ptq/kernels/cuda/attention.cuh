/// @file Causal grouped-query attention on the GPU, fused: scores, online softmax and the weighted sum of values in
/// one pass over the keys, never materializing the (T, T) score matrix (the CPU reference is
/// ref::causal_attention, kernels/ref/attention.hpp). One warp per (query, head): the lanes split head_dim
/// (head_dim / 32 values each, <= kMaxHeadDim), a shuffle reduction gives each score, float32 throughout.
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

/// Launches the attention; d must be a multiple of 32 and at most kMaxHeadDim, heads a multiple of kv_heads.
template <Half16 T>
cudaError_t causal_attention(const T* q, const T* k, const T* v, T* out, std::int64_t t_len, int heads, int kv_heads,
                             int d, DeviceLayout layout = {}, cudaStream_t stream = nullptr) {
  if (d % 32 != 0 || d > kMaxHeadDim || kv_heads < 1 || heads % kv_heads != 0) return cudaErrorInvalidValue;
  constexpr int kThreads = 256;
  causal_attention_kernel<T><<<blocks_for(t_len * heads * 32, kThreads), kThreads, 0, stream>>>(q, k, v, out, t_len,
                                                                                                heads, kv_heads, d, layout);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
