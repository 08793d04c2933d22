// The GPU block kernels against the CPU references of kernels/ref on fresh random inputs (a 7B-like head layout at a
// small width: 130 tokens, 8 query and 2 key/value heads of 128, hidden 512, vocabulary 1000), fp16 and bf16:
// RMSNorm, RoPE, causal GQA attention (both kernels: per query and tiled, whose 130 tokens span 9 query blocks and
// 3 key tiles), SwiGLU, and the target log-probability with its greedy flag (the first target is the arg-max, so a
// true flag is checked). Outputs are NaN-poisoned; tolerances in units of roundoff u of
// the dtype relative to max(|y|, rms(y)): 2u for the one-rounding kernels, 8u for attention (exp and a weighted sum
// of 130 values); log-probs within 1e-4 nats (float32 logits). Exit 77 without a GPU.
#include "cuda_test.cuh"
#include "kernel_case.hpp"
#include "ptq/kernels/cuda/attention.cuh"
#include "ptq/kernels/cuda/elementwise.cuh"
#include "ptq/kernels/cuda/logprob.cuh"

namespace {

using namespace ptq::cuda;
using namespace ptq::cuda_test;

template <class T>
int check(std::uint64_t seed) {
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  const double u = unit_roundoff<T>();
  const std::string dt = kBf16 ? " bf16" : " fp16";
  const KernelCase c = make_kernel_case(130, 512, 8, 2, 128, 1000, kBf16, seed);
  const std::int64_t t = c.t_len, h = c.hidden;
  int failures = 0;
  {
    const DeviceBuffer<float> x(c.x), w(c.norm_weight);
    DeviceBuffer<T> out(c.normed.size());
    out.poison();
    CUDA_OK(rms_norm(x.get(), t, h, w.get(), c.eps, out.get()));
    CUDA_OK(cudaDeviceSynchronize());
    failures += !compare("rms_norm" + dt, to_float(out.download()), c.normed, 2 * u);
  }
  {
    DeviceBuffer<T> x(to_dtype<T>(c.rope_in));
    CUDA_OK(bias_rope(x.get(), t, static_cast<int>(c.heads), static_cast<int>(c.head_dim), nullptr, c.theta, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    failures += !compare("rope" + dt, to_float(x.download()), c.rope_out, 2 * u);
  }
  const std::pair<AttentionKernel, const char*> attention_kernels[] = {{AttentionKernel::kPerQuery, " per query"},
                                                                         {AttentionKernel::kTiled, " tiled"}};
  for (const auto& [kernel, kname] : attention_kernels) {
    const DeviceBuffer<T> q(to_dtype<T>(c.q)), k(to_dtype<T>(c.k)), v(to_dtype<T>(c.v));
    DeviceBuffer<T> out(c.attn.size());
    out.poison();
    CUDA_OK(causal_attention(q.get(), k.get(), v.get(), out.get(), t, static_cast<int>(c.heads),
                             static_cast<int>(c.kv_heads), static_cast<int>(c.head_dim), {}, nullptr, kernel));
    CUDA_OK(cudaDeviceSynchronize());
    failures += !compare("causal_attention" + std::string(kname) + dt, to_float(out.download()), c.attn, 8 * u);
  }
  {  // a packed pass: two segments, branches, restarted positions
    DeviceBuffer<T> x(to_dtype<T>(c.rope_in));
    const DeviceBuffer<std::int32_t> positions(c.positions), branch(c.branch);
    std::vector<std::int32_t> start;
    for (std::size_t s = 0; s + 1 < c.segment_begin.size(); ++s)
      for (std::int32_t i = c.segment_begin[s]; i < c.segment_begin[s + 1]; ++i) start.push_back(c.segment_begin[s]);
    const DeviceBuffer<std::int32_t> starts(start);
    CUDA_OK(bias_rope(x.get(), t, static_cast<int>(c.heads), static_cast<int>(c.head_dim), nullptr, c.theta, positions.get()));
    CUDA_OK(cudaDeviceSynchronize());
    failures += !compare("rope packed" + dt, to_float(x.download()), c.rope_packed, 2 * u);
    const DeviceBuffer<T> q(to_dtype<T>(c.q)), k(to_dtype<T>(c.k)), v(to_dtype<T>(c.v));
    for (const auto& [kernel, kname] : attention_kernels) {
      DeviceBuffer<T> out(c.attn_packed.size());
      out.poison();
      CUDA_OK(causal_attention(q.get(), k.get(), v.get(), out.get(), t, static_cast<int>(c.heads),
                               static_cast<int>(c.kv_heads), static_cast<int>(c.head_dim), {starts.get(), branch.get()},
                               nullptr, kernel));
      CUDA_OK(cudaDeviceSynchronize());
      failures += !compare("causal_attention packed" + std::string(kname) + dt, to_float(out.download()), c.attn_packed,
                           8 * u);
    }
  }
  {
    DeviceBuffer<T> gate(to_dtype<T>(c.gate));
    const DeviceBuffer<T> up(to_dtype<T>(c.up));
    CUDA_OK(swiglu(gate.get(), up.get(), static_cast<std::int64_t>(c.gate.size())));
    CUDA_OK(cudaDeviceSynchronize());
    failures += !compare("swiglu" + dt, to_float(gate.download()), c.swiglu, 2 * u);
  }
  {
    const DeviceBuffer<float> logits(c.logits);
    const DeviceBuffer<std::int32_t> targets(c.targets);
    DeviceBuffer<TokenLogprob> out(c.targets.size());
    CUDA_OK(target_logprobs(logits.get(), t, c.vocab, targets.get(), out.get()));
    CUDA_OK(cudaDeviceSynchronize());
    const std::vector<TokenLogprob> got = out.download();
    std::vector<float> lp;
    int greedy_bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      lp.push_back(got[i].logprob);
      greedy_bad += got[i].greedy != c.greedy[i];
    }
    failures += !compare("target_logprobs" + dt, lp, c.logprob, 1e-4);
    failures += greedy_bad != 0 || c.greedy[0] != 1;
    std::printf("%-6s greedy flags: %d differ (first target is the arg-max: %d)\n", greedy_bad ? "FAILED" : "ok",
                greedy_bad, c.greedy[0]);
  }
  return failures;
}

}  // namespace

int main() {
  skip_without_gpu();
  const int failures = check<__half>(1) + check<__nv_bfloat16>(2);
  std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
