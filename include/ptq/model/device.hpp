/// @file The bridge between host code built by the C++ compiler and the GPU code built by nvcc. Host code (the CLI,
/// the rows, a researcher's .cpp) sees an AcceleratorModel behind virtual calls and plain-data results; the three
/// functions that cross (make_cuda_model, require_cuda_device, cuda_quantize) are defined by the backend library
/// ptq::backend: src/cuda_backend.cu (from model/cuda/backend.cuh and pipeline/cuda/backend.cuh) in a build with nvcc,
/// src/no_cuda_backend.cpp, which refuses with a message, without. Plain data only: nvcc compiles this header.
#pragma once

#include "ptq/kernels/score_batch.hpp"
#include "ptq/model/image.hpp"
#include "ptq/quant/awq_params.hpp"
#include "ptq/quant/gptq_params.hpp"
#include "ptq/quant/packed_arrays.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ptq {

enum class Device : std::uint8_t { kCpu, kCuda };

/// What a model occupies on its device, in bytes.
struct DeviceMemory {
  std::string device;            // the device's name ("NVIDIA H200")
  std::size_t weight_bytes = 0;  // the weights as stored there (packed linears packed)
  std::size_t model_bytes = 0;   // device memory in use after the upload minus before it
  std::size_t peak_bytes = 0;    // most device memory in use, seen after the upload and after every call
};

/// A model on an accelerator: scores packed forward passes like the CPU model (model/backend.hpp's ScoringModel).
class AcceleratorModel {
 public:
  virtual ~AcceleratorModel() = default;
  [[nodiscard]] virtual std::vector<TokenScore> score(const ScoreBatch& batch) = 0;
  [[nodiscard]] virtual DeviceMemory memory() const = 0;
};

/// The image's model on the first CUDA device in bf16 (Qwen2.5's dtype), its packed linears in `packed` (null:
/// a dense model). Throws std::runtime_error when no CUDA device is found, when ptq was built without CUDA, or
/// when the scheme is not instantiated for the GPU (scheme/instantiated.hpp).
std::unique_ptr<AcceleratorModel> make_cuda_model(const ModelImage& image, const QuantSpec* packed);

/// Throws std::runtime_error saying why unless a CUDA device can be used (commands check before loading a model).
void require_cuda_device();

/// A whole-model GPTQ or AWQ on the GPU (pipeline/cuda: the CPU pipeline's steps, activations in bf16).
struct GpuQuantizeRequest {
  bool awq = false;            // else GPTQ
  QuantSpec spec;              // must be instantiated (scheme/instantiated.hpp)
  GptqParams gptq;
  AwqParams awq_params;
  bool feed_quantized = true;  // the next layer sees the quantized layer's outputs
};

/// What it changed: every linear's packed weight, and what AWQ folds its scales into.
struct GpuQuantized {
  std::vector<PackedArrays> weights;                    // 7 per layer, kLinearNames order
  std::vector<double> loss;                             // per linear: GPTQ's loss, AWQ's scale search loss
  std::vector<float> damp;                              // per linear: GPTQ's damping, AWQ's scale ratio
  std::vector<std::vector<float>> input_norm, post_norm;  // per layer, the RMSNorm weights after the run
  std::vector<std::vector<float>> bias;                 // per linear, after the run (empty: none)
  double seconds = 0;                                   // wall time on the device, uploads excluded
  std::size_t peak_bytes = 0;                           // most device memory in use
  std::string device;                                   // the GPU's name
};

/// Quantizes the image's model on the first CUDA device; throws like make_cuda_model.
GpuQuantized cuda_quantize(const ModelImage& image, const GpuQuantizeRequest& request,
                           const std::vector<std::vector<std::int32_t>>& calibration);

}  // namespace ptq
