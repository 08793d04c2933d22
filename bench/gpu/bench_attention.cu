// Causal attention on Qwen2.5-7B's heads (28 query, 4 key/value heads of 128), bf16: the warp-per-query kernel
// against the tiled (flash-style) one, in the same run, on one 2048-token window (the perplexity protocol's) and on
// a 16,384-token packed pass of eight 2048-token segments (the evaluation's --batch-tokens 16384). Before timing,
// the two kernels' outputs are compared (8 units of bf16 roundoff relative to the output's scale, as
// test_block_kernels compares each with the CPU reference at 130 tokens). Medians of `reps` launches.
// Prints CSV: tokens, kernel, median us, attended (query, key) pairs per second x heads, TFLOP/s (4·d FLOP per pair
// and head: the two products), speedup over the per-query kernel.
//   bench_attention [reps=10]
#include "cuda_test.cuh"
#include "ptq/kernels/cuda/attention.cuh"

namespace {

using namespace ptq::cuda;
using namespace ptq::cuda_test;
using T = __nv_bfloat16;
constexpr int kHeads = 28, kKvHeads = 4, kHeadDim = 128, kSegment = 2048;

std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>((seed >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
  }
  return v;
}

int run(std::int64_t tokens, int reps) {
  const auto q_len = static_cast<std::size_t>(tokens * kHeads * kHeadDim), kv_len = static_cast<std::size_t>(tokens * kKvHeads * kHeadDim);
  const DeviceBuffer<T> q(to_dtype<T>(random_values(q_len, 1))), k(to_dtype<T>(random_values(kv_len, 2))),
      v(to_dtype<T>(random_values(kv_len, 3)));
  std::vector<std::int32_t> start(static_cast<std::size_t>(tokens));
  for (std::int64_t t = 0; t < tokens; ++t) start[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(t / kSegment * kSegment);
  const DeviceBuffer<std::int32_t> starts(start);
  const DeviceLayout layout{tokens > kSegment ? starts.get() : nullptr, nullptr};
  DeviceBuffer<T> per_query(q_len), tiled(q_len);
  auto launch = [&](AttentionKernel kernel, DeviceBuffer<T>& out) {
    CUDA_OK(causal_attention(q.get(), k.get(), v.get(), out.get(), tokens, kHeads, kKvHeads, kHeadDim, layout, nullptr, kernel));
  };
  per_query.poison();
  tiled.poison();
  launch(AttentionKernel::kPerQuery, per_query);
  launch(AttentionKernel::kTiled, tiled);
  CUDA_OK(cudaDeviceSynchronize());
  if (!compare(std::to_string(tokens) + " tokens: tiled vs per-query", to_float(tiled.download()),
               to_float(per_query.download()), 8 * unit_roundoff<T>()))
    return 1;
  // Attended pairs: each query sees its segment's keys up to itself.
  const double pairs = static_cast<double>(tokens / kSegment) * kSegment * (kSegment + 1) / 2 +
                       static_cast<double>(tokens % kSegment) * (tokens % kSegment + 1) / 2;
  const float base = median_us(reps, [&] { launch(AttentionKernel::kPerQuery, per_query); });
  for (const auto& [kernel, name] : {std::pair{AttentionKernel::kPerQuery, "per_query"}, {AttentionKernel::kTiled, "tiled"}}) {
    const float us = kernel == AttentionKernel::kPerQuery ? base : median_us(reps, [&] { launch(kernel, tiled); });
    std::printf("%lld,%s,%.1f,%.3g,%.2f,%.2f\n", static_cast<long long>(tokens), name, us, pairs * kHeads / (us * 1e-6),
                pairs * kHeads * 4.0 * kHeadDim / (us * 1e-6) / 1e12, base / us);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  skip_without_gpu();
  const int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  std::printf("tokens,kernel,median_us,pairs_x_heads_per_s,tflops,speedup_vs_per_query\n");
  int failures = 0;
  for (const std::int64_t tokens : {std::int64_t{kSegment}, std::int64_t{8 * kSegment}}) failures += run(tokens, reps);
  return failures ? 1 : 0;
}
