/// @file The LAPACK routines GPTQ needs (Cholesky factorization, triangular inverse), from OpenBLAS's LAPACK.
/// Matrices are row-major and symmetric; LAPACK is column-major, so "upper" there is "lower" here. Under the
/// rounding probe (blas.hpp) each factorization's input gets one-ulp noise first.
#pragma once

#include "ptq/kernels/ref/blas.hpp"

#include <algorithm>
#include <cstdint>

extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void strtri_(const char* uplo, const char* diag, const int* n, float* a, const int* lda, int* info);
}

namespace ptq::ref {

namespace detail {
/// The rounding probe's one-ulp noise on a factorization's input (n, n), in place; nothing when it is off.
inline void probe_factorization_input(float* a, int n) {
  if (const std::uint64_t seed = rounding_probe_seed(); seed != 0) {
    const auto noisy = probe_noise(a, n, n, n, probe_hash(seed ^ static_cast<std::uint64_t>(n)));
    std::copy(noisy.begin(), noisy.end(), a);
  }
}
}  // namespace detail

/// In place on a row-major symmetric positive-definite A (n, n): the lower factor L (A = L L^T) in the lower
/// triangle. Returns LAPACK's info (0 = success, > 0 = not positive definite at that order).
inline int cholesky_lower(float* a, int n) {
  detail::probe_factorization_input(a, n);
  int info = 0;
  spotrf_("U", &n, a, &n, &info);
  return info;
}

/// In place on a row-major symmetric positive-definite A (n, n): the upper factor U of its inverse
/// (A^{-1} = U^T U) in the upper triangle (the lower triangle is left undefined). One factorization and one
/// triangular inverse, 2/3 n^3 flops, where factor-invert-factor (the GPTQ reference's order) takes 4/3 n^3:
/// with J the order reversal, J A J = L L^T gives A = R R^T for the upper R = J L J, so A^{-1} = R^{-T} R^{-1}
/// and U = R^{-1} (positive diagonal: the same unique factor). Returns LAPACK's info (0 = success).
inline int inverse_cholesky_upper(float* a, int n) {
  const std::size_t nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  std::reverse(a, a + nn);  // element (i, j) <-> (n-1-i, n-1-j): J A J
  int info = cholesky_lower(a, n);
  if (info != 0) return info;
  std::reverse(a, a + nn);  // R = J L J, upper
  strtri_("L", "N", &n, a, &n, &info);
  return info;
}

}  // namespace ptq::ref
