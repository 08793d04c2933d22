// The CUDA backend library (ptq::backend in a build with nvcc): the one definition of the bridge (model/device.hpp,
// pipeline/layerwise.hpp's cuda_quantize_layers).
#include "ptq/model/cuda/backend.cuh"
#include "ptq/pipeline/cuda/backend.cuh"

std::unique_ptr<ptq::AcceleratorModel> ptq::make_cuda_model(const ModelImage& image, const QuantSpec* packed,
                                                             std::string_view kernels) {
  return cuda::make_model(image, packed, kernels);
}

void ptq::require_cuda_device() { cuda::require_device(); }

ptq::DeviceRun ptq::cuda_quantize_layers(const ModelImage& image, const LayerwiseRequest& request,
                                         const std::vector<std::vector<std::int32_t>>& calibration, LayerLedger& ledger) {
  return cuda::quantize_layers(image, request, calibration, ledger);
}
