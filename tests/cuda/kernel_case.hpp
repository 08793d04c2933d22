// Inputs and CPU reference outputs (kernels/ref) for the GPU block kernels, built by the C++ compiler: RMSNorm, RoPE,
// causal grouped-query attention, SwiGLU and the target log-probability. Inputs that the GPU reads in fp16/bf16 are
// rounded to that dtype first, so reference and kernel see the same values.
#pragma once

#include <cstdint>
#include <vector>

namespace ptq::cuda_test {

struct KernelCase {
  std::int64_t t_len = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  float eps = 1e-6f, theta = 1e6f;
  std::vector<float> x, norm_weight, normed;           // RMSNorm: x (T, H) float32 -> normed (T, H)
  std::vector<float> rope_in, rope_out;                // RoPE on (T, heads, d), positions 0..T-1
  std::vector<float> q, k, v, attn;                    // attention: q (T, heads, d), k/v (T, kv_heads, d) -> attn
  // A packed pass over the same tokens: two segments, the second a prefix and two branches (AttentionLayout).
  std::vector<std::int32_t> segment_begin, branch, positions;
  std::vector<float> attn_packed, rope_packed;         // attention and RoPE (of rope_in) under that packing
  std::vector<float> gate, up, swiglu;                 // SwiGLU on (T, I = 4H)
  std::vector<float> logits;                           // (T, V) = hidden · Wᵀ, float32
  std::vector<std::int32_t> targets;                   // (T)
  std::vector<float> logprob;                          // (T)
  std::vector<int> greedy;                             // (T)
};

/// bf16: round the dtype-read inputs to bfloat16 (else fp16).
KernelCase make_kernel_case(std::int64_t t_len, std::int64_t hidden, std::int64_t heads, std::int64_t kv_heads,
                            std::int64_t head_dim, std::int64_t vocab, bool bf16, std::uint64_t seed);

}  // namespace ptq::cuda_test
