/// @file The fused target-token log-probability on the GPU: from float32 logits rows (T, V), per row
/// log p(target) = logit[target] − logsumexp(logits) and whether the target is the arg-max (greedy), one block per
/// row with CUB block reductions (max, arg-max, sum of exponentials), never storing the softmax. The CPU reference
/// is ref::target_logprobs (kernels/ref/logprob.hpp).
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <cub/block/block_reduce.cuh>

namespace ptq::cuda {

struct TokenLogprob {
  float logprob;   // natural log
  int greedy;      // 1 when the target is the arg-max (lowest index on ties)
};

template <int Threads>
__global__ void __launch_bounds__(Threads)
    target_logprob_kernel(const float* logits, std::int64_t v, const std::int32_t* targets, TokenLogprob* out) {
  using MaxReduce = cub::BlockReduce<cub::KeyValuePair<int, float>, Threads>;
  using SumReduce = cub::BlockReduce<float, Threads>;
  __shared__ union { typename MaxReduce::TempStorage max; typename SumReduce::TempStorage sum; } tmp;
  __shared__ cub::KeyValuePair<int, float> best;
  const float* row = logits + blockIdx.x * v;
  cub::KeyValuePair<int, float> mine(-1, -INFINITY);
  for (std::int64_t i = threadIdx.x; i < v; i += Threads)
    if (row[i] > mine.value) mine = {static_cast<int>(i), row[i]};  // first max of this thread's strided slice
  const auto arg = MaxReduce(tmp.max).Reduce(mine, [](const auto& a, const auto& b) {
    return (b.value > a.value || (b.value == a.value && b.key >= 0 && (a.key < 0 || b.key < a.key))) ? b : a;
  });
  if (threadIdx.x == 0) best = arg;
  __syncthreads();
  float s = 0.0f;
  for (std::int64_t i = threadIdx.x; i < v; i += Threads) s += __expf(row[i] - best.value);
  const float total = SumReduce(tmp.sum).Sum(s);
  if (threadIdx.x == 0) {
    const std::int32_t tg = targets[blockIdx.x];
    out[blockIdx.x] = {row[tg] - best.value - logf(total), best.key == tg ? 1 : 0};
  }
}

/// Scores `rows` logits rows (rows, v) against targets (rows).
inline cudaError_t target_logprobs(const float* logits, std::int64_t rows, std::int64_t v, const std::int32_t* targets,
                                   TokenLogprob* out, cudaStream_t stream = nullptr) {
  constexpr int kThreads = 512;
  if (rows > 0) target_logprob_kernel<kThreads><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, v, targets, out);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
