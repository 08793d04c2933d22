/// @file GPTQ on one linear layer of Qwen2.5-7B's shape (default down_proj: N 3584 x K 18944), timed.
///
///   build/bench/bench_gptq [--n 3584 --k 18944 --rows 2048 --reps 3] [--json]
/// W ~ N(0, 0.02), calibration inputs X (rows, K) ~ N(0, 1) with a few large channels; H = 2/rows X^T X is built
/// once (not timed); `gptq_quantize` (W4 g128 sym, damping 0.01, block 128) is timed, median of `reps` runs.
/// bench/quant/compare_gptq_torch.py times the torch reference on the same shape and prints the ratio.
#include "ptq/core/rng.hpp"
#include "ptq/quant/gptq.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"GPTQ timing on a 7B-shaped layer"};
  std::int64_t n = 3584, k = 18944, rows = 2048;
  int reps = 3;
  bool json = false;
  app.add_option("--n", n, "Output features")->capture_default_str();
  app.add_option("--k", k, "Input features")->capture_default_str();
  app.add_option("--rows", rows, "Calibration rows for the Hessian")->capture_default_str();
  app.add_option("--reps", reps, "Timed runs (median)")->capture_default_str();
  app.add_flag("--json", json, "One JSON line");
  CLI11_PARSE(app, argc, argv);

  ptq::Rng rng(1);
  std::vector<float> w(static_cast<std::size_t>(n * k)), x(static_cast<std::size_t>(rows * k));
  for (auto& v : w) v = 0.02f * rng.normal();
  for (std::int64_t i = 0; i < rows * k; ++i) x[i] = rng.normal() * (i % k % 97 == 0 ? 20.0f : 1.0f);
  ptq::Hessian h(k);
  h.add(x.data(), rows);
  const std::vector<float> hm = h.matrix();
  x = {};

  std::vector<double> secs;
  double loss = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = ptq::gptq_quantize(w, n, k, hm, {4, 128, ptq::Symmetry::kSymmetric}, {}, "bench");
    secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    loss = res.loss;
  }
  std::sort(secs.begin(), secs.end());
  const double median = secs[secs.size() / 2];
  if (json) {
    fmt::print("{{\"n\": {}, \"k\": {}, \"reps\": {}, \"median_s\": {:.4f}, \"min_s\": {:.4f}, \"loss\": {:.6g}}}\n", n, k,
               reps, median, secs.front(), loss);
  } else {
    fmt::print("gptq w4g128s ({} x {}): median {:.2f} s over {} runs (min {:.2f} s), loss {:.6g}\n", n, k, median, reps,
               secs.front(), loss);
  }
  return 0;
}
