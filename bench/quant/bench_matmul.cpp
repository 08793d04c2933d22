/// @file Weight-only quantized product on the CPU, y (M, N) = x (M, K) · W^T, against the float32 BLAS
/// product and the bf16 panel path in the same run, on Qwen2.5-7B layer shapes.
///
///   build/bench/bench_matmul [--reps 7]
/// Prints CSV: shape, M, weights, product path, median ms, GB/s of weight traffic, speedup over float32 sgemm; first
/// a comment line with the CPU's features and what runs each path (kernels/ref/matmul_path.hpp).
/// Rows: fp32 sgemm on float32 weights (baseline); stored bf16 weights and W4 weights through the linears' panels on
/// both paths (f32: panels converted to float32, sgemm; bf16: panels as bf16, oneDNN's native product or, on a CPU
/// without one, its emulation); W4 gemv (reads the codes directly; the model uses it up to kGemvMaxRows input rows).
#include "ptq/core/cpu.hpp"
#include "ptq/core/rng.hpp"
#include "ptq/kernels/ref/linear.hpp"
#include "ptq/quant/packed.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace {

// Swept axes.
constexpr std::int64_t kShapes[][2] = {{3584, 18944}, {18944, 3584}};  // (N, K): down_proj, gate/up_proj
constexpr std::int64_t kBatch[] = {1, 16};

double median_ms(int reps, const std::function<void()>& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"W4A16 / bf16 / fp32 CPU products on Qwen2.5-7B shapes"};
  int reps = 7;
  app.add_option("--reps", reps)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  using ptq::ref::MatmulPath;
  auto info = [](MatmulPath p) {
    ptq::ref::set_matmul_path(p);
    return ptq::ref::matmul_path_info();
  };
  const ptq::CpuInfo cpu = ptq::cpu_info();
  fmt::print("# cpu: {} [{}]; f32 path: {}; bf16 path: {}\n", cpu.name, fmt::join(cpu.features, " "),
             info(MatmulPath::kF32), info(MatmulPath::kBf16));
  fmt::print("shape,M,weights,path,median_ms,weight_GB_per_s,speedup_vs_fp32\n");
  for (const auto& nk : kShapes) {
    const std::int64_t n = nk[0], k = nk[1];  // named, not bound: the lambdas below capture them (clang 14)
    ptq::Rng rng(1);
    std::vector<float> w(static_cast<std::size_t>(n * k));
    for (auto& v : w) v = 0.02f * rng.normal();
    std::vector<ptq::bf16> wb(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) wb[i] = ptq::to_bf16(w[i]);
    const ptq::TensorRef ref_bf16{"w", ptq::DType::kBF16, {n, k}, reinterpret_cast<const std::byte*>(wb.data())};
    const auto packed = ptq::quantize_rtn(w, n, k, {4, 128, ptq::Symmetry::kSymmetric});
    for (const std::int64_t m : kBatch) {
      std::vector<float> x(static_cast<std::size_t>(m * k), 0.5f), y(static_cast<std::size_t>(m * n));
      const double fp32 = median_ms(reps, [&] { ptq::ref::gemm_nt(m, n, k, 1.0f, x.data(), k, w.data(), k, 0.0f, y.data(), n); });
      const std::string shape = fmt::format("{}x{}", n, k);
      auto row = [&](const char* name, std::string_view path, double ms, double bytes) {
        fmt::print("{},{},{},{},{:.3f},{:.2f},{:.2f}\n", shape, m, name, path, ms, bytes / ms / 1e6, fp32 / ms);
      };
      row("fp32", "sgemm", fp32, static_cast<double>(w.size()) * 4);
      for (const MatmulPath p : {MatmulPath::kF32, MatmulPath::kBf16}) {
        ptq::ref::set_matmul_path(p);
        const double bf16 = median_ms(reps, [&] { ptq::ref::linear(x.data(), m, ref_bf16, {}, y.data()); });
        const double w4 = median_ms(reps, [&] { ptq::ref::linear(x.data(), m, ptq::PackedRows{packed}, {}, y.data()); });
        row("bf16", ptq::ref::matmul_path_name(p), bf16, static_cast<double>(w.size()) * 2);
        row("w4g128s", ptq::ref::matmul_path_name(p), w4, static_cast<double>(packed.nbytes()));
      }
      const double gemv = median_ms(reps, [&] { ptq::gemv_w4(packed, x.data(), m, y.data()); });
      row("w4g128s_gemv", "f32", gemv, static_cast<double>(packed.nbytes()));
    }
  }
  return 0;
}
