/// @file cuBLAS as ptq's GPU code uses it, the GPU's counterpart of kernels/ref/blas.hpp: errors as exceptions, a
/// shared handle, the data type of an activation dtype, and the products in row-major terms (every cuBLAS call of
/// the model and the quantizers is one of these: float32 accumulation, no TF32).
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

/// C (m, n) = alpha · op(A) · op(B) + beta · C, all row-major: op(A) is A (m, k), or Aᵀ of A (k, m) when trans_a;
/// op(B) is B (k, n), or Bᵀ of B (n, k) when trans_b; leading dimensions are row strides in elements. A, B and C may
/// be float, __half or __nv_bfloat16 (cuBLAS GemmEx); products accumulate in float32. `batch` products at strides
/// (in elements) stride_a, stride_b, stride_c.
template <class A, class B, class C>
void gemm(cublasHandle_t h, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const A* a, std::int64_t lda, const B* b, std::int64_t ldb, float beta, C* c, std::int64_t ldc,
          const std::string& what, int batch = 1, std::int64_t stride_a = 0, std::int64_t stride_b = 0,
          std::int64_t stride_c = 0) {
  // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ, and a row-major matrix is its transpose in
  // column-major: cuBLAS gets B first, each operand transposed exactly when it is not in row-major terms.
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const auto i = [](std::int64_t v) { return static_cast<int>(v); };
  if (batch == 1) {
    throw_if_failed(cublasGemmEx(h, op_b, op_a, i(n), i(m), i(k), &alpha, b, kCudaType<B>, i(ldb), a, kCudaType<A>, i(lda),
                                 &beta, c, kCudaType<C>, i(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    what);
  } else {
    throw_if_failed(cublasGemmStridedBatchedEx(h, op_b, op_a, i(n), i(m), i(k), &alpha, b, kCudaType<B>, i(ldb), stride_b, a,
                                               kCudaType<A>, i(lda), stride_a, &beta, c, kCudaType<C>, i(ldc), stride_c,
                                               batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    what);
  }
}

/// out (cols, rows) = inᵀ of in (rows, cols), float32, row-major.
inline void transpose(cublasHandle_t h, const float* in, std::int64_t rows, std::int64_t cols, float* out,
                      const std::string& what) {
  const float one = 1.0f, zero = 0.0f;
  // Column-major: in is (cols, rows) with ld cols; out (rows, cols) with ld rows = its transpose.
  throw_if_failed(cublasSgeam(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(cols), &one, in,
                              static_cast<int>(cols), &zero, out, static_cast<int>(rows), out, static_cast<int>(rows)),
                  what);
}

}  // namespace ptq::cuda
