// ptq::backend in a build without nvcc: the GPU is refused with a message that says why.
#include "ptq/model/device.hpp"
#include "ptq/pipeline/layerwise.hpp"

#include <stdexcept>

void ptq::require_cuda_device() {
  throw std::runtime_error("no CUDA device found: this ptq was built without CUDA (nvcc was not found when it was "
                           "configured; install the CUDA toolkit and rebuild)");
}

std::unique_ptr<ptq::AcceleratorModel> ptq::make_cuda_model(const ModelImage&, const QuantSpec*, std::string_view) {
  require_cuda_device();
  return nullptr;  // not reached: require_cuda_device throws
}

ptq::DeviceRun ptq::cuda_quantize_layers(const ModelImage&, const LayerwiseRequest&,
                                         const std::vector<std::vector<std::int32_t>>&, LayerLedger&) {
  require_cuda_device();
  return {};  // not reached
}
