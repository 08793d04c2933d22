// A synthetic Qwen2.5-7B (random bf16 weights, all 28 layers, real shapes) on the GPU: device memory of the weights
// dense and after W4 g128 quantization (real packed weights), the time of GPTQ (sym) or AWQ (zero point) on the GPU
// layer by layer (the driver quantize_layers with pipeline/cuda/layers.cuh's GpuLayers) with `nsamples` random windows of `seqlen` tokens, its peak device
// memory, and prefill throughput (one 2048-token sequence scored, median of 3) dense vs W4. Goals (issue: CUDA
// backend): W4 model <= 7.5 GB of device memory, GPTQ < 5 minutes.
//   bench_qwen2_7b [nsamples=128] [seqlen=2048] [gptq|awq]
#include "cuda_test.cuh"
#include "model_case.hpp"
#include "ptq/pipeline/cuda/layers.cuh"

#include <chrono>

namespace {

using namespace ptq::cuda_test;
template <class Model>
double prefill_tokens_per_s(Model& m, const std::vector<std::int32_t>& ids) {
  std::vector<std::int32_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(0);
  std::vector<double> t;
  for (int r = 0; r < 3; ++r) {
    const auto a = std::chrono::steady_clock::now();
    (void)m.score(ids, targets);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return static_cast<double>(ids.size()) / t[1];
}

/// Prints each finished layer with the time since the start.
class ProgressLedger final : public ptq::LayerLedger {
 public:
  explicit ProgressLedger(std::chrono::steady_clock::time_point t0) : t0_(t0) {}
  [[nodiscard]] bool has(std::size_t) const override { return false; }
  [[nodiscard]] ptq::LayerState load(std::size_t) const override { return {}; }
  void done(std::size_t layer, const ptq::LayerState&, bool) override {
    std::printf("  layer %zu quantized (%.1f s)\n", layer,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    std::fflush(stdout);
    ++layers;
  }
  std::size_t layers = 0;

 private:
  std::chrono::steady_clock::time_point t0_;
};

template <class Scheme>
int run(const SyntheticModel& syn, int nsamples, int seqlen, bool awq) {
  const auto t0 = std::chrono::steady_clock::now();
  const ptq::LayerwiseRequest request{awq ? ptq::Method::kAwq : ptq::Method::kGptq, ptq::spec_of<Scheme>(), {}, {}, !awq, {}};
  ptq::cuda::GpuLayers<__nv_bfloat16, Scheme> layers(syn.image, request);
  auto& model = layers.model();
  const std::size_t dense_bytes = model.weight_bytes();
  std::vector<std::int32_t> ids(2048);
  std::uint64_t state = 42;
  auto next = [&] { state = state * 6364136223846793005ull + 1442695040888963407ull; return static_cast<std::int32_t>((state >> 33) % 150000); };
  for (auto& id : ids) id = next();
  const double dense_tps = prefill_tokens_per_s(model, ids);
  std::vector<std::vector<std::int32_t>> calibration(static_cast<std::size_t>(nsamples), std::vector<std::int32_t>(seqlen));
  for (auto& s : calibration)
    for (auto& id : s) id = next();
  ProgressLedger ledger(t0);
  const auto q0 = std::chrono::steady_clock::now();
  ptq::quantize_layers(layers, request, calibration, ledger);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - q0).count();
  const std::size_t w4_bytes = model.weight_bytes();
  std::size_t free = 0, total = 0;
  CUDA_OK(cudaMemGetInfo(&free, &total));
  const double w4_tps = prefill_tokens_per_s(model, ids);
  const char* method = awq ? "AWQ" : "GPTQ";
  std::printf("\n| quantity | value | goal |\n|---|---|---|\n");
  std::printf("| weights on the device, bf16 | %.2f GB | |\n", dense_bytes / 1e9);
  std::printf("| weights on the device, W4 g128 (packed) | %.2f GB | <= 7.5 GB |\n", w4_bytes / 1e9);
  std::printf("| device memory in use after %s (process) | %.2f GB | |\n", method, (total - free) / 1e9);
  std::printf("| %s, %d x %d tokens, 196 linears | %.1f s | %s |\n", method, nsamples, seqlen, seconds,
              awq ? "" : "< 300 s");
  std::printf("| %s peak device memory | %.2f GB | |\n", method, layers.peak_bytes() / 1e9);
  std::printf("| prefill 2048 tokens, bf16 | %.0f tokens/s | |\n", dense_tps);
  std::printf("| prefill 2048 tokens, W4 | %.0f tokens/s | |\n", w4_tps);
  const bool ok = w4_bytes <= 7'500'000'000ull && (awq || seconds < 300) && ledger.layers == 28;
  std::printf("%s\n", ok ? "goals met" : "GOALS MISSED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  skip_without_gpu();
  const int nsamples = argc > 1 ? std::atoi(argv[1]) : 128, seqlen = argc > 2 ? std::atoi(argv[2]) : 2048;
  const bool awq = argc > 3 && std::string(argv[3]) == "awq";
  const auto t0 = std::chrono::steady_clock::now();
  const SyntheticModel syn = make_synthetic_model("7B", 1234);
  std::printf("synthetic Qwen2.5-7B built on the host in %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return awq ? run<ptq::W4G128Asym>(syn, nsamples, seqlen, true) : run<ptq::W4G128Sym>(syn, nsamples, seqlen, false);
}
