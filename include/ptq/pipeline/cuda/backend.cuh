/// @file The CUDA side of model/device.hpp's bridge for quantization: GPTQ or AWQ of a whole model on the GPU
/// (gptq_model, awq_model), returned as plain data for the host to install. Compiled once, by nvcc, in
/// src/cuda_backend.cu.
#pragma once

#include "ptq/model/cuda/backend.cuh"
#include "ptq/pipeline/cuda/awq.cuh"
#include "ptq/pipeline/cuda/quantize.cuh"

namespace ptq::cuda {

/// cuda_quantize's definition (model/device.hpp).
inline GpuQuantized quantize(const ModelImage& img, const GpuQuantizeRequest& r,
                             const std::vector<std::vector<std::int32_t>>& calibration) {
  require_device();
  GpuQuantized out;
  cudaDeviceProp prop{};
  throw_if_failed(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  out.device = prop.name;
  const bool found = visit_scheme(r.spec, [&]<class S>() {
    Qwen2Gpu<__nv_bfloat16, S> gpu(img);
    GpuQuantReport rep = r.awq ? awq_model(gpu, calibration, r.awq_params, r.feed_quantized)
                               : gptq_model(gpu, calibration, r.gptq, r.feed_quantized);
    out.weights = std::move(rep.weights);
    out.loss = std::move(rep.loss);
    out.damp = std::move(rep.damp);
    out.seconds = rep.seconds;
    out.peak_bytes = rep.peak_device_bytes;
    for (std::size_t i = 0; i < gpu.num_layers(); ++i) {
      const auto& layer = gpu.layer(i);
      out.input_norm.push_back(layer.input_norm.download());
      out.post_norm.push_back(layer.post_norm.download());
      for (const auto& lin : layer.lin) out.bias.push_back(lin.bias.size() ? lin.bias.download() : std::vector<float>{});
    }
  });
  if (!found)
    throw std::runtime_error("scheme " + config_name(r.spec) + " is not instantiated for the GPU (instantiated: " +
                             instantiated_scheme_names() + ")");
  return out;
}

}  // namespace ptq::cuda
