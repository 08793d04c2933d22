/// @file The CUDA side of model/device.hpp's bridge for evaluation: a Qwen2Gpu behind AcceleratorModel, its scheme
/// and kernel configuration chosen at run time through scheme/instantiated.hpp's visit_scheme and
/// kernels/cuda/model_kernels.cuh's visit_model_kernels (quantization: pipeline/cuda/backend.cuh).
/// Compiled once, by nvcc, in src/cuda_backend.cu.
#pragma once

#include "ptq/model/cuda/qwen2.cuh"
#include "ptq/model/device.hpp"
#include "ptq/scheme/instantiated.hpp"

namespace ptq::cuda {

template <Half16 T, QuantSchemeLike Scheme, class Kernels>
class BackendModel final : public AcceleratorModel {
 public:
  explicit BackendModel(const ModelImage& img) {
    cudaDeviceProp prop{};
    throw_if_failed(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    mem_.device = prop.name;
    const std::size_t before = device_bytes_in_use();
    model_ = std::make_unique<Qwen2Gpu<T, Scheme, Kernels>>(img);
    mem_.model_bytes = device_bytes_in_use() - before;
    mem_.weight_bytes = model_->weight_bytes();
    mem_.peak_bytes = device_bytes_in_use();
  }
  std::vector<TokenScore> score(const ScoreBatch& batch) override {
    std::vector<TokenScore> out = model_->score(batch);
    mem_.peak_bytes = std::max(mem_.peak_bytes, model_->peak_device_bytes());
    return out;
  }
  [[nodiscard]] DeviceMemory memory() const override { return mem_; }

 private:
  std::unique_ptr<Qwen2Gpu<T, Scheme, Kernels>> model_;
  DeviceMemory mem_;
};

/// require_cuda_device's definition (model/device.hpp).
inline void require_device() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    throw std::runtime_error(std::string("no CUDA device found (") +
                             (e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount: 0 devices") + ")");
}

/// make_cuda_model's definition (model/device.hpp).
inline std::unique_ptr<AcceleratorModel> make_model(const ModelImage& img, const QuantSpec* packed,
                                                    std::string_view kernels) {
  const int k = model_kernels_index(kernels);
  if (k < 0)
    throw std::runtime_error("no kernel configuration " + std::string(kernels) + " (compiled: " + model_kernels_names() +
                             ")");
  require_device();
  const QuantSpec spec = packed ? *packed : spec_of<W4G128Sym>();  // dense: the scheme's kernels go unused
  std::unique_ptr<AcceleratorModel> out;
  const bool found = visit_scheme(spec, [&]<class S>() {
    visit_model_kernels(k, [&]<class K>() { out = std::make_unique<BackendModel<__nv_bfloat16, S, K>>(img); });
  });
  if (!found)
    throw std::runtime_error("scheme " + config_name(spec) + " is not instantiated for the GPU (instantiated: " +
                             instantiated_scheme_names() + ")");
  return out;
}

}  // namespace ptq::cuda
