/// @file Prefill throughput of the CPU Qwen2 forward pass: score one window of T tokens (hidden states
/// plus the fused target log-probabilities, i.e. what perplexity and task evaluation do).
///
///   build/bench/bench_prefill --model ../shared/models/qwen2-micro --synthetic 0.5B --tokens 512 --reps 5
///                             [--matmul f32 bf16]
/// Prints one JSON object per model and product path (median of --reps timed runs after one warm-up); "matmul" says
/// which product ran the linears (kernels/ref/matmul_path.hpp; default: the process's, PTQ_MATMUL or the CPU's).
/// bench/forward/compare_torch.py runs this next to transformers in the same run and prints ratios.
#include "ptq/core/cpu.hpp"
#include "ptq/model/qwen2.hpp"
#include "ptq/model/synthetic.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>

namespace {

void bench(const std::string& name, const ptq::Qwen2Model& model, int tokens, int reps) {
  const ptq::CpuInfo cpu = ptq::cpu_info();
  ptq::Rng rng(42);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(tokens));
  for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(model.config().vocab_size)));
  std::vector<std::int32_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(ids[0]);
  std::vector<double> secs;
  double checksum = 0;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto scores = model.score(ids, targets);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) secs.push_back(s);  // run 0 warms caches and page-faults the weights in
    checksum = scores.back().logprob;
  }
  std::sort(secs.begin(), secs.end());
  const double median = secs[secs.size() / 2];
  const nlohmann::ordered_json rec{{"impl", "ptq"}, {"model", name}, {"tokens", tokens},
                                   {"threads", omp_get_max_threads()}, {"median_s", median},
                                   {"tokens_per_s", tokens / median}, {"runs_s", secs}, {"last_logprob", checksum},
                                   {"matmul", ptq::ref::matmul_path_info()}, {"cpu", cpu.name},
                                   {"cpu_features", cpu.features}};
  fmt::print("{}\n", rec.dump());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prefill throughput of the CPU Qwen2 forward pass"};
  std::vector<std::string> models, synthetic, paths;
  int tokens = 512, reps = 5;
  app.add_option("--model", models, "Hugging Face model folder(s)");
  app.add_option("--synthetic", synthetic, "Random-weight Qwen2.5 shape(s): 0.5B, 7B");
  app.add_option("--tokens", tokens, "Window length T")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "Timed repetitions (median reported)")->check(CLI::PositiveNumber);
  app.add_option("--matmul", paths, "Product path(s) of the linears: f32, bf16, auto (default: the process's)");
  CLI11_PARSE(app, argc, argv);
  try {
    auto each_path = [&](const std::string& name, const ptq::Qwen2Model& model) {
      if (paths.empty()) return bench(name, model, tokens, reps);
      for (const auto& p : paths) {
        ptq::ref::set_matmul_path(ptq::ref::parse_matmul_path(p, "--matmul"));
        bench(name, model, tokens, reps);
      }
    };
    for (const auto& m : models) each_path(m, ptq::Qwen2Model::load(m));
    for (const auto& s : synthetic) each_path("synthetic-qwen2.5-" + s, ptq::make_synthetic_qwen2(ptq::qwen25_shape(s), 1));
  } catch (const ptq::Error& e) {
    fmt::print(stderr, "bench_prefill: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
