/// @file Quantizing a whole model layer by layer, written once for every device: the driver `quantize_layers` orders
/// the steps (RTN per linear; GPTQ true-sequential per group of linears sharing an input; AWQ's capture, scale search
/// and fold per group, clip and quantize per linear; what the next layer is fed; per-layer resume), a backend does
/// them where its model and calibration activations live. The CPU backend is `CpuLayers` (pipeline/cpu_layers.hpp),
/// the GPU's `cuda::GpuLayers` (pipeline/cuda/layers.cuh); the host's `quantize_model` (pipeline/quantize.hpp) picks
/// one. Plain data and templates only: nvcc compiles this header, so the GPU instantiates the same driver.
///
///   ptq::cuda::GpuLayers<__nv_bfloat16, ptq::W4G128Sym> gpu(image, request);   // or ptq::CpuLayers cpu(model, request)
///   ptq::KeptLayers kept;
///   ptq::quantize_layers(gpu, request, calibration, kept);
#pragma once

#include "ptq/model/image.hpp"
#include "ptq/model/layer_slots.hpp"
#include "ptq/quant/awq_params.hpp"
#include "ptq/quant/gptq_params.hpp"
#include "ptq/quant/packed_arrays.hpp"
#include "ptq/scheme/grid.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <array>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ptq {

enum class Method : std::uint8_t { kRtn, kGptq, kAwq };

inline constexpr std::array<std::string_view, 3> kMethodNames{"rtn", "gptq", "awq"};
inline std::string_view method_name(Method m) { return kMethodNames[static_cast<std::size_t>(m)]; }
/// The quantizer grid a method uses (scheme/grid.hpp).
inline Grid method_grid(Method m) { return m == Method::kAwq ? Grid::kAwq : Grid::kGptq; }

/// What one whole-model run asks: the method, the scheme (one for every linear, or one per linear: mixed
/// precision, pipeline/mixed.hpp), their parameters, and what the next layer is fed.
struct LayerwiseRequest {
  Method method = Method::kRtn;
  QuantSpec spec;              // every linear's scheme, where linear_specs is empty
  GptqParams gptq;
  AwqParams awq;
  bool feed_quantized = true;  // the next layer sees the quantized layer's outputs (false: the full-precision ones)
  std::vector<std::array<QuantSpec, 7>> linear_specs;  // mixed precision: per layer, per kLinearNames slot

  [[nodiscard]] bool mixed() const { return !linear_specs.empty(); }
  [[nodiscard]] const QuantSpec& spec_for(std::size_t layer, int slot) const {
    return mixed() ? linear_specs.at(layer)[static_cast<std::size_t>(slot)] : spec;
  }
};

/// One linear's outcome: GPTQ its loss and the damping used; AWQ its group's scale search loss and chosen ratio
/// (0, 0 for a linear AWQ does not scale); RTN Σ (w - q)².
struct LinearResult {
  double loss = 0;
  float damp = 0;
};

/// A quantized decoder layer as plain data (what a layer checkpoint holds, what the host installs from the GPU):
/// its seven packed linears and the tensors AWQ folds scales into, after the run.
struct LayerState {
  std::array<PackedArrays, 7> linears;        // kLinearNames order
  std::array<std::vector<float>, 7> bias;     // (out_features) or empty
  std::vector<float> input_norm, post_norm;   // (H)
  std::array<LinearResult, 7> results;
};

/// Where finished layers go and come back from: the host's per-layer checkpoints, its model, its report and progress
/// line (pipeline/quantize.hpp); KeptLayers for a caller that only wants the states.
class LayerLedger {
 public:
  virtual ~LayerLedger() = default;
  /// Whether layer `layer` finished in an interrupted run of the same request (then load gives it).
  [[nodiscard]] virtual bool has(std::size_t layer) const = 0;
  [[nodiscard]] virtual LayerState load(std::size_t layer) const = 0;
  /// Layer `layer` is final (`resumed`: it came from load).
  virtual void done(std::size_t layer, const LayerState& state, bool resumed) = 0;
};

/// A ledger that resumes nothing and keeps every finished layer.
class KeptLayers final : public LayerLedger {
 public:
  [[nodiscard]] bool has(std::size_t) const override { return false; }
  [[nodiscard]] LayerState load(std::size_t) const override { return {}; }
  void done(std::size_t layer, const LayerState& state, bool) override {
    if (layers.size() <= layer) layers.resize(layer + 1);
    layers[layer] = state;
  }
  std::vector<LayerState> layers;
};

/// The steps a device does for the driver. The backend holds its model (built for the request's scheme) and the
/// residual stream of every calibration window at the current layer's input ("the streams").
template <class B>
concept LayerBackend = requires(B& b, const B& cb, std::size_t li, int slot, const LinearGroup& g,
                                std::array<LinearResult, 7>& results, const LayerState& state,
                                const std::vector<std::vector<std::int32_t>>& calibration) {
  { cb.num_layers() } -> std::convertible_to<std::size_t>;
  { cb.shape(li, slot) } -> std::same_as<std::array<std::int64_t, 2>>;  // (out_features, in_features)
  b.embed(calibration);        // the streams at layer 0's input
  b.advance(li);               // the streams through layer li as it stands
  b.keep_full_precision(li);   // keeps the streams' outputs of layer li as it stands (full precision) ...
  b.take_full_precision();     // ... and makes them the streams
  b.rtn(li, slot, results);    // linear `slot` by round-to-nearest (the method's grid)
  b.gptq(li, g, results);      // g's Hessian from the streams through the layer as it stands; each member by GPTQ
  b.awq_capture(li);           // the four groups' inputs of the full-precision layer; keeps its outputs
  b.awq_scale(li, g, results); // g's scale search on the original weights, the best scales folded in
  b.awq_quantize(li, slot);    // linear `slot` clipped (not q/k) and quantized with AutoAWQ's grid
  { cb.layer_state(li) } -> std::same_as<LayerState>;  // the layer after its steps (results left empty)
  b.restore(li, state);        // a finished layer from a checkpoint
};

/// Quantizes every decoder layer of `b`'s model as `r` asks (GPTQ and AWQ over `calibration` token windows), in
/// order; a layer `ledger` already has is restored, not redone. The next layer's streams are recomputed exactly as
/// the uninterrupted run computes them, so a resumed run gives the same bits.
template <LayerBackend B>
void quantize_layers(B& b, const LayerwiseRequest& r, const std::vector<std::vector<std::int32_t>>& calibration,
                     LayerLedger& ledger) {
  const bool calibrated = r.method != Method::kRtn;
  if (calibrated) b.embed(calibration);
  for (std::size_t li = 0; li < b.num_layers(); ++li) {
    if (ledger.has(li)) {
      const LayerState state = ledger.load(li);
      if (calibrated && !r.feed_quantized) b.advance(li);  // full-precision outputs: before the quantized state
      b.restore(li, state);
      if (calibrated && r.feed_quantized) b.advance(li);
      ledger.done(li, state, true);
      continue;
    }
    std::array<LinearResult, 7> results{};
    switch (r.method) {
      case Method::kRtn:
        for (int slot = 0; slot < 7; ++slot) b.rtn(li, slot, results);
        break;
      case Method::kGptq:
        if (!r.feed_quantized) b.keep_full_precision(li);
        for (const LinearGroup& g : kLinearGroups) b.gptq(li, g, results);
        break;
      case Method::kAwq: {
        b.awq_capture(li);
        const auto v = b.shape(li, 2), o = b.shape(li, 3);
        for (const LinearGroup& g : kLinearGroups)
          if (awq_scales_group(g, v[0], v[1], o[0], o[1])) b.awq_scale(li, g, results);
        for (int slot = 0; slot < 7; ++slot) b.awq_quantize(li, slot);
        break;
      }
    }
    if (calibrated) {
      if (r.feed_quantized) b.advance(li);
      else b.take_full_precision();
    }
    LayerState state = b.layer_state(li);
    state.results = results;
    ledger.done(li, state, false);
  }
}

/// What a GPU run reports besides its layers.
struct DeviceRun {
  std::string device;          // the GPU's name
  std::size_t peak_bytes = 0;  // most device memory in use
};

/// quantize_layers on the first CUDA device with the image's model in bf16 (the bridge: defined by nvcc in
/// src/cuda_backend.cu, refused in a build without CUDA). Throws std::runtime_error when no CUDA device is found or
/// the scheme is not instantiated (scheme/instantiated.hpp).
DeviceRun cuda_quantize_layers(const ModelImage& image, const LayerwiseRequest& request,
                               const std::vector<std::vector<std::int32_t>>& calibration, LayerLedger& ledger);

}  // namespace ptq
