/// @file What the layers above ask of a model, whatever device runs it. The evaluation harness (eval/) is written
/// once against ScoringModel; the CPU's Qwen2Model satisfies it, and so does a loaded model's copy on the GPU
/// (GpuModel, through model/device.hpp's bridge). with_device runs one piece of code on the chosen device:
///
///   ptq::with_device(model, ptq::parse_device("cuda"), [&](auto& m) { return ptq::perplexity_gptq(m, ids, 2048, 0, {}); });
#pragma once

#include "ptq/core/status.hpp"
#include "ptq/kernels/score_batch.hpp"
#include "ptq/model/device.hpp"
#include "ptq/model/image_of.hpp"
#include "ptq/model/qwen2.hpp"
#include "ptq/scheme/instantiated.hpp"

#include <concepts>
#include <memory>
#include <string_view>
#include <vector>

namespace ptq {

/// A model that scores packed forward passes (kernels/score_batch.hpp): its config (tokens, context length) and
/// score(batch), one TokenScore per scored row. `Model` may be const-qualified (the CPU model scores as const).
template <class Model>
concept ScoringModel = requires(Model& m, const ScoreBatch& b) {
  { m.config() } -> std::convertible_to<const Qwen2Config&>;
  { m.score(b) } -> std::same_as<std::vector<TokenScore>>;
};

static_assert(ScoringModel<const Qwen2Model>);

/// "cpu" or "cuda" (the --device option).
/// Throws unless the device exists (cuda: a CUDA device and a ptq built with CUDA), so that a command fails at once.
inline Device parse_device(std::string_view name) {
  check(name == "cpu" || name == "cuda", "", "device", "'{}' is not a device (cpu, cuda)", name);
  if (name == "cpu") return Device::kCpu;
  require_cuda_device();
  return Device::kCuda;
}

/// A GPU kernel configuration's name (`--kernels`; "": the default), refused unless compiled (scheme/instantiated.hpp),
/// so that a command fails at once.
inline std::string parse_model_kernels(std::string_view name) {
  check(model_kernels_index(name) >= 0, "", "kernels", "'{}' is not a kernel configuration (compiled: {})", name,
        model_kernels_names());
  return std::string(name.empty() ? kModelKernelNames[0] : name);
}

/// The scheme of a model's packed linears, or none for a dense model. The GPU model is instantiated for one scheme:
/// a mixed-precision model (a scheme per linear) is refused by name.
inline const QuantSpec* packed_spec(const Qwen2Model& model) {
  const QuantSpec* spec = nullptr;
  for (std::size_t li = 0; li < model.weights().layers.size(); ++li)
    for_each_linear(model.weights().layers[li], [&](const char* name, const Linear& lin) {
      if (!lin.packed) return;
      if (!spec) spec = &lin.packed->spec;
      check(lin.packed->spec == *spec, model.dir().string(), fmt::format("model.layers.{}.{}", li, name),
            "{} where other linears are {}: a mixed-precision model runs on the CPU (the GPU model is instantiated "
            "for one scheme)", config_name(lin.packed->spec), config_name(*spec));
    });
  return spec;
}

/// A loaded model's copy on the GPU, as a ScoringModel: its config from the host model (which must outlive it),
/// its scores from the device, its packed products in the kernel configuration `kernels` ("": the default).
class GpuModel {
 public:
  explicit GpuModel(const Qwen2Model& host, std::string_view kernels = {})
      : host_(host), device_(make_cuda_model(image_of(host), packed_spec(host), kernels)) {}
  [[nodiscard]] const Qwen2Config& config() const { return host_.config(); }
  [[nodiscard]] std::vector<TokenScore> score(const ScoreBatch& batch) { return device_->score(batch); }
  [[nodiscard]] DeviceMemory memory() const { return device_->memory(); }

 private:
  const Qwen2Model& host_;
  std::unique_ptr<AcceleratorModel> device_;
};
static_assert(ScoringModel<GpuModel>);

/// f(model) on the CPU, or f(its GPU copy, in the kernel configuration `kernels`); f is instantiated for both (a
/// generic lambda).
template <class F>
decltype(auto) with_device(const Qwen2Model& model, Device device, F&& f, std::string_view kernels = {}) {
  if (device == Device::kCpu) return f(model);
  GpuModel gpu(model, kernels);
  return f(gpu);
}

}  // namespace ptq
