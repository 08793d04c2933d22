/// @file The bridge between host code built by the C++ compiler and the GPU code built by nvcc. Host code (the CLI,
/// the rows, a researcher's .cpp) sees an AcceleratorModel behind virtual calls and plain-data results; the functions
/// that cross (make_cuda_model, require_cuda_device here, cuda_quantize_layers in pipeline/layerwise.hpp) are defined
/// by the backend library ptq::backend: src/cuda_backend.cu (from model/cuda/backend.cuh and
/// pipeline/cuda/backend.cuh) in a build with nvcc, src/no_cuda_backend.cpp, which refuses with a message, without.
/// Plain data only: nvcc compiles this header.
#pragma once

#include "ptq/kernels/score_batch.hpp"
#include "ptq/model/image.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
/// a dense model), its packed products in the kernel configuration named `kernels` ("": the default; the names:
/// scheme/instantiated.hpp's kModelKernelNames). Throws std::runtime_error when no CUDA device is found, when ptq
/// was built without CUDA, or when the scheme or the kernel configuration is not instantiated.
std::unique_ptr<AcceleratorModel> make_cuda_model(const ModelImage& image, const QuantSpec* packed,
                                                  std::string_view kernels = {});

/// Throws std::runtime_error saying why unless a CUDA device can be used (commands check before loading a model).
void require_cuda_device();

}  // namespace ptq
