/// @file GPTQ of a whole model on the GPU, layer by layer, in the order of the CPU pipeline (pipeline/quantize.hpp,
/// gptq_layer): for each decoder layer and each group of linears sharing an input (q/k/v, o, gate/up, down), the
/// calibration sequences run through the layer as it stands (earlier groups already quantized) while their inputs
/// accumulate the group's Hessian; each linear of the group is quantized (quant/cuda/gptq.cuh) and replaced by its
/// packed weight; then the sequences advance through the quantized layer (or, feed_quantized = false, through the
/// full-precision layer). Calibration activations stay on the device (float32 residual streams, T·H·4 bytes each).
/// Difference from the CPU pipeline: the Hessians see the linear inputs as stored in T (fp16/bf16), not float32.
#pragma once

#include "ptq/model/cuda/qwen2.cuh"
#include "ptq/quant/cuda/gptq.cuh"

#include <chrono>
#include <functional>

namespace ptq::cuda {

struct GpuQuantReport {
  std::vector<std::string> names;       // model.layers.<i>.<linear>
  std::vector<double> loss;             // GPTQ: its loss; AWQ: the scale search loss of the linear's group
  std::vector<float> damp;              // GPTQ: damping used; AWQ: the scale ratio chosen for the linear's group
  std::vector<PackedArrays> weights;    // the packed weights, in names' order
  double seconds = 0;                   // wall time of the whole run
  std::size_t peak_device_bytes = 0;    // most device memory in use (cudaMemGetInfo) seen between steps
};

/// Quantizes every linear of `model` in place with GPTQ (Model: a Qwen2Gpu). `progress(layer)` after each layer.
template <class Model>
GpuQuantReport gptq_model(Model& model, const std::vector<std::vector<std::int32_t>>& calibration,
                          const GptqParams& prm, bool feed_quantized = true,
                          const std::function<void(std::size_t)>& progress = {}) {
  using Scheme = typename Model::scheme_type;
  using T = typename Model::value_type;
  const auto t0 = std::chrono::steady_clock::now();
  GpuQuantReport rep;
  std::vector<DeviceBuffer<float>> xs;
  std::vector<std::int64_t> lens;
  for (const auto& ids : calibration) {
    xs.push_back(model.embed(ids));
    lens.push_back(static_cast<std::int64_t>(ids.size()));
  }
  auto copy = [](const DeviceBuffer<float>& from, DeviceBuffer<float>& to) {
    if (to.size() < from.size()) to = DeviceBuffer<float>(from.size());
    throw_if_failed(cudaMemcpy(to.get(), from.get(), from.bytes(), cudaMemcpyDeviceToDevice), "copying activations");
  };
  DeviceBuffer<float> y;  // a sample's working copy, reused (thousands of layer forwards)
  for (std::size_t layer = 0; layer < model.num_layers(); ++layer) {
    std::vector<DeviceBuffer<float>> fp_out;
    if (!feed_quantized)
      for (std::size_t s = 0; s < xs.size(); ++s) {
        fp_out.emplace_back(xs[s].size());
        copy(xs[s], fp_out.back());
        model.forward_layer(layer, fp_out.back().get(), lens[s]);
      }
    for (const LinearGroup& group : kLinearGroups) {
      const LinearInput which = group.input;
      GpuHessian hess(model.in_features(layer, group.members().front()));
      const typename Model::Observer observe = [&](LinearInput at, const T* x, std::int64_t m) {
        if (at == which) hess.add(x, m);
      };
      for (std::size_t s = 0; s < xs.size(); ++s) {  // in order: the Hessian sums the samples in a fixed order
        copy(xs[s], y);
        model.forward_layer(layer, y.get(), lens[s], &observe);
      }
      for (const int slot : group.members()) {
        const DeviceBuffer<float> w = model.dense_weight(layer, slot);
        GpuHessian work = hess.clone();
        GptqGpuResult r = gptq_quantize<Scheme>(w.get(), model.out_features(layer, slot), model.in_features(layer, slot),
                                                work, prm);
        rep.peak_device_bytes = std::max(rep.peak_device_bytes, device_bytes_in_use());
        model.set_packed(layer, slot, r.weight);
        rep.names.push_back("model.layers." + std::to_string(layer) + "." + kLinearNames[static_cast<std::size_t>(slot)]);
        rep.loss.push_back(r.loss);
        rep.damp.push_back(r.damp_used);
        rep.weights.push_back(std::move(r.weight));
      }
    }
    if (feed_quantized) {
      for (std::size_t s = 0; s < xs.size(); ++s) model.forward_layer(layer, xs[s].get(), lens[s]);
    } else {
      xs = std::move(fp_out);
    }
    rep.peak_device_bytes = std::max(rep.peak_device_bytes, device_bytes_in_use());
    if (progress) progress(layer);
  }
  throw_if_failed(cudaDeviceSynchronize(), "gptq_model");
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace ptq::cuda
