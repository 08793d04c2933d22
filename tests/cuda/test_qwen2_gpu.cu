// The GPU Qwen2 forward pass against the CPU reference (float32) on the real qwen2-micro model: final hidden states
// and target log-probabilities of a random 300-token sequence (the default kernel configuration's products take the
// dequantize + cuBLAS path above 256 rows; the second configuration, GEMM up to 1024 rows, runs the 300 rows through
// the tensor-core GEMM; the 1..8-row GEMV and the GEMM alone are tested by test_quant_matmul), fp16 and bf16, the model as stored
// (bf16 dense) and quantized by RTN on the CPU (W4 g128 symmetric, W8 per channel). Tolerances: hidden states relative
// to their scale, 0.05 (bf16) / 0.01 (fp16): six layers of activations rounded to 8 or 11 bits; log-probs within
// 0.05 / 0.02 nats mean absolute difference. Then GPTQ (W4 g128 sym) and AWQ (W4 g128 zero point) on the GPU
// (the driver quantize_layers with pipeline/cuda/layers.cuh's GpuLayers) of the stored model with the CPU case's calibration windows: log-probs within
// 0.05 nats of the CPU-quantized model's, and closer to the dense model's than RTN's are. Also: device memory
// W4 < W8 < dense. Exit 77 without a GPU.
#include "cuda_test.cuh"
#include "model_case.hpp"
#include "ptq/model/cuda/qwen2.cuh"
#include "ptq/model/device.hpp"
#include "ptq/pipeline/cuda/layers.cuh"

#include <chrono>

namespace {

using namespace ptq::cuda_test;

double mean_abs_diff(const std::vector<ptq::TokenScore>& a, const std::vector<float>& b) {
  double d = 0;
  for (std::size_t t = 0; t < a.size(); ++t) d += std::isfinite(a[t].logprob) ? std::fabs(a[t].logprob - b[t]) : INFINITY;
  return d / static_cast<double>(a.size());
}

template <class T, class Scheme, class Kernels = ptq::cuda::DefaultModelKernels>
int check_model(const ModelCase& c, std::size_t* bytes, const std::string& kernels = "") {
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  const std::string name = c.name + (kBf16 ? " bf16" : " fp16") + kernels;
  ptq::cuda::Qwen2Gpu<T, Scheme, Kernels> gpu(c.image);
  *bytes = gpu.weight_bytes();
  int failures = 0;
  failures += !compare(name + " hidden states", gpu.hidden_states(c.ids), c.hidden, kBf16 ? 0.05 : 0.01);
  const auto scores = gpu.score(c.ids, c.targets);
  double diff = 0;
  int greedy_same = 0;
  bool finite = true;
  for (std::size_t t = 0; t < scores.size(); ++t) {
    finite = finite && std::isfinite(scores[t].logprob);
    diff += std::fabs(scores[t].logprob - c.logprob[t]);
    greedy_same += (scores[t].is_greedy ? 1 : 0) == c.greedy[t];
  }
  diff /= static_cast<double>(scores.size());
  const bool ok = finite && diff <= (kBf16 ? 0.05 : 0.02);
  std::printf("%-6s %s log-probs: mean |diff| %.4f nats over %zu tokens, greedy flags equal %d\n", ok ? "ok" : "FAILED",
              name.c_str(), diff, scores.size(), greedy_same);
  // The packed pass (segments, branches, restarted positions) against the CPU model's scores of the same batch.
  const std::vector<ptq::TokenScore> packed = gpu.score(c.batch);
  double packed_diff = 0;
  for (std::size_t r = 0; r < packed.size(); ++r) packed_diff += std::fabs(packed[r].logprob - c.batch_logprob[r]);
  packed_diff /= static_cast<double>(std::max<std::size_t>(packed.size(), 1));
  const bool packed_ok = packed.size() == c.batch_logprob.size() && packed_diff <= (kBf16 ? 0.05 : 0.02);
  std::printf("%-6s %s packed pass: mean |diff| %.4f nats over %zu rows\n", packed_ok ? "ok" : "FAILED", name.c_str(),
              packed_diff, packed.size());
  return failures + !ok + !packed_ok;
}

}  // namespace

int main(int argc, char** argv) {
  skip_without_gpu();
  const std::string dir = std::string(argc > 1 ? argv[1] : PTQ_SHARED_DIR) + "/models/qwen2-micro";
  int failures = 0;
  std::size_t dense = 0, w4 = 0, w8 = 0;
  const ModelCase stored = make_model_case(dir, 300, CpuMethod::kNone, 0, 0, true, 1);
  failures += check_model<__half, ptq::W4G128Sym>(stored, &dense);
  failures += check_model<__nv_bfloat16, ptq::W4G128Sym>(stored, &dense);
  const ModelCase rtn = make_model_case(dir, 300, CpuMethod::kRtn, 4, 128, true, 1);
  failures += check_model<__half, ptq::W4G128Sym>(rtn, &w4);
  failures += check_model<__nv_bfloat16, ptq::W4G128Sym>(rtn, &w4);
  std::size_t w4_gemm = 0;
  failures += check_model<__nv_bfloat16, ptq::W4G128Sym, std::tuple_element_t<1, ptq::cuda::InstantiatedModelKernels>>(
      rtn, &w4_gemm, std::string(" ") + std::string(ptq::kModelKernelNames[1]));
  const ModelCase q8 = make_model_case(dir, 300, CpuMethod::kRtn, 8, ptq::kPerChannel, true, 1);
  failures += check_model<__nv_bfloat16, ptq::W8PerChannelSym>(q8, &w8);
  std::printf("device weight bytes: dense %zu, W4 g128 %zu, W8 per channel %zu\n", dense, w4, w8);
  failures += !(w4 < w8 && w8 < dense);
  {  // the bridge host code uses (model/device.hpp): the GPU model chosen at run time by the packed scheme
    const ptq::QuantSpec spec = ptq::spec_of<ptq::W4G128Sym>();
    const auto dev = ptq::make_cuda_model(rtn.image, &spec);
    const std::vector<ptq::TokenScore> s = dev->score(rtn.batch);
    double d = 0;
    for (std::size_t r = 0; r < s.size(); ++r) d += std::fabs(s[r].logprob - rtn.batch_logprob[r]);
    d /= static_cast<double>(std::max<std::size_t>(s.size(), 1));
    const ptq::DeviceMemory m = dev->memory();
    const bool ok = s.size() == rtn.batch_logprob.size() && d <= 0.05 && m.weight_bytes == w4 && !m.device.empty() &&
                    m.model_bytes >= m.weight_bytes && m.peak_bytes >= m.model_bytes;
    std::printf("%-6s make_cuda_model (%s): packed pass mean |diff| %.4f nats; weights %zu, model %zu, peak %zu bytes\n",
                ok ? "ok" : "FAILED", m.device.c_str(), d, m.weight_bytes, m.model_bytes, m.peak_bytes);
    failures += !ok;
  }

  // GPTQ and AWQ on the GPU vs on the CPU (same calibration windows, same sequence: seed 1 everywhere).
  double rtn_vs_dense = 0;
  for (std::size_t t = 0; t < rtn.logprob.size(); ++t) rtn_vs_dense += std::fabs(rtn.logprob[t] - stored.logprob[t]);
  rtn_vs_dense /= static_cast<double>(rtn.logprob.size());
  // Quantizes the stored model on the GPU through the driver, then compares its log-probabilities.
  auto check_method = [&]<class Scheme>(const char* name, const ModelCase& cpu, const ptq::LayerwiseRequest& request) {
    ptq::cuda::GpuLayers<__nv_bfloat16, Scheme> gpu(stored.image, request);
    ptq::KeptLayers kept;
    const auto t0 = std::chrono::steady_clock::now();
    ptq::quantize_layers(gpu, request, stored.calibration, kept);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto scores = gpu.model().score(stored.ids, stored.targets);
    const double vs_cpu = mean_abs_diff(scores, cpu.logprob), vs_dense = mean_abs_diff(scores, stored.logprob);
    bool complete = kept.layers.size() == 6;
    for (const ptq::LayerState& l : kept.layers)
      for (const ptq::PackedArrays& p : l.linears) complete = complete && p.bits == 4 && !p.qweight.empty();
    const bool ok = complete && vs_cpu <= 0.05 && vs_dense < rtn_vs_dense;
    std::printf("%-6s GPU %s (6 layers, 42 linears %s, %.2f s, peak %zu MB): log-probs vs CPU %s %.4f nats, vs dense "
                "%.4f (RTN vs dense %.4f)\n", ok ? "ok" : "FAILED", name, complete ? "packed" : "MISSING", seconds,
                gpu.peak_bytes() >> 20, name, vs_cpu, vs_dense, rtn_vs_dense);
    return ok ? 0 : 1;
  };
  {
    const ModelCase cpu = make_model_case(dir, 300, CpuMethod::kGptq, 4, 128, true, 1);
    const ptq::LayerwiseRequest gptq{ptq::Method::kGptq, ptq::spec_of<ptq::W4G128Sym>(), {}, {}, true, {}};
    failures += check_method.template operator()<ptq::W4G128Sym>("GPTQ", cpu, gptq);
  }
  {
    const ModelCase cpu = make_model_case(dir, 300, CpuMethod::kAwq, 4, 128, false, 1);
    const ptq::LayerwiseRequest awq{ptq::Method::kAwq, ptq::spec_of<ptq::W4G128Asym>(), {}, {}, false, {}};
    failures += check_method.template operator()<ptq::W4G128Asym>("AWQ", cpu, awq);
  }
  std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
