/// @file The LAPACK routines GPTQ needs (Cholesky factorization and inverse), from OpenBLAS's bundled LAPACK.
/// Matrices are row-major and symmetric; LAPACK is column-major, so "upper" there is "lower" here.
#pragma once

#include <cstdint>

extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info);
}

namespace ptq::ref {

/// In place on a row-major symmetric positive-definite A (n, n): the lower factor L (A = L L^T) in the lower
/// triangle. Returns LAPACK's info (0 = success, > 0 = not positive definite at that order).
inline int cholesky_lower(float* a, int n) {
  int info = 0;
  spotrf_("U", &n, a, &n, &info);
  return info;
}

/// In place: the upper factor U (A = U^T U) in the upper triangle.
inline int cholesky_upper(float* a, int n) {
  int info = 0;
  spotrf_("L", &n, a, &n, &info);
  return info;
}

/// In place, after cholesky_lower: A^{-1} in the lower triangle.
inline int cholesky_inverse_lower(float* a, int n) {
  int info = 0;
  spotri_("U", &n, a, &n, &info);
  return info;
}

}  // namespace ptq::ref
