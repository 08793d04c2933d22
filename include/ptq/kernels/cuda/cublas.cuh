/// @file cuBLAS as ptq's GPU code uses it: errors as exceptions, a shared handle, the data type of an activation dtype.
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <cublas_v2.h>

#include <memory>

namespace ptq::cuda {

inline void throw_if_failed(cublasStatus_t s, const std::string& what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("ptq cuda: " + what + ": cuBLAS status " + std::to_string(s));
}

/// A cuBLAS handle destroyed with its last owner.
inline std::shared_ptr<cublasContext> make_cublas() {
  cublasHandle_t h = nullptr;
  throw_if_failed(cublasCreate(&h), "cublasCreate");
  return {h, [](cublasHandle_t p) { cublasDestroy(p); }};
}

template <class T>
inline constexpr cudaDataType_t kCudaType = std::is_same_v<T, float>    ? CUDA_R_32F
                                            : std::is_same_v<T, __half> ? CUDA_R_16F
                                                                        : CUDA_R_16BF;

}  // namespace ptq::cuda
