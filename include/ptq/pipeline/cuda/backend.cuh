/// @file The CUDA side of the bridge for quantization (pipeline/layerwise.hpp's cuda_quantize_layers): the driver
/// quantize_layers with the GPU backend, its scheme chosen at run time through scheme/instantiated.hpp's
/// visit_scheme. Compiled once, by nvcc, in src/cuda_backend.cu.
#pragma once

#include "ptq/model/cuda/backend.cuh"
#include "ptq/pipeline/cuda/layers.cuh"

namespace ptq::cuda {

/// cuda_quantize_layers' definition.
inline DeviceRun quantize_layers(const ModelImage& img, const LayerwiseRequest& r,
                                 const std::vector<std::vector<std::int32_t>>& calibration, LayerLedger& ledger) {
  require_device();
  if (r.mixed())  // GpuLayers<T, Scheme> is one scheme's instantiation
    throw std::runtime_error("mixed precision (a scheme per linear) is quantized on the CPU; the GPU backend runs one "
                             "scheme per model");
  DeviceRun out;
  cudaDeviceProp prop{};
  throw_if_failed(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  out.device = prop.name;
  const bool found = visit_scheme(r.spec, [&]<class S>() {
    GpuLayers<__nv_bfloat16, S> gpu(img, r);
    ptq::quantize_layers(gpu, r, calibration, ledger);
    out.peak_bytes = gpu.peak_bytes();
  });
  if (!found)
    throw std::runtime_error("scheme " + config_name(r.spec) + " is not instantiated for the GPU (instantiated: " +
                             instantiated_scheme_names() + ")");
  return out;
}

}  // namespace ptq::cuda
