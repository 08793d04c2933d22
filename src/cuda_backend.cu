// The CUDA backend library (ptq::backend in a build with nvcc): the one definition of model/device.hpp's bridge.
#include "ptq/model/cuda/backend.cuh"
#include "ptq/pipeline/cuda/backend.cuh"

std::unique_ptr<ptq::AcceleratorModel> ptq::make_cuda_model(const ModelImage& image, const QuantSpec* packed) {
  return cuda::make_model(image, packed);
}

void ptq::require_cuda_device() { cuda::require_device(); }

ptq::GpuQuantized ptq::cuda_quantize(const ModelImage& image, const GpuQuantizeRequest& request,
                                     const std::vector<std::vector<std::int32_t>>& calibration) {
  return cuda::quantize(image, request, calibration);
}
