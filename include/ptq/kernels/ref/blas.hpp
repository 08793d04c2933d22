/// @file The one place that includes the CBLAS header: every float32 matrix product of the CPU code goes through
/// `sgemm` here, so that the rounding probe below reaches all of them.
///
/// Rounding probe. OpenBLAS picks its kernels at run time from the CPU (Haswell, SkylakeX, Cooper Lake, Zen ...),
/// and each kernel blocks K and orders its fused multiply-adds differently, so the same product rounds differently
/// on two machines of the same kind. With the environment variable PTQ_ROUNDING_PROBE=<seed> (a positive integer),
/// every product is computed the way another kernel could have computed it: K is cut at a seeded point into two
/// partial products that are added in reverse order (another blocking and summation order), and every element of
/// A is moved by one unit in the last place with probability 1/2 (the rounding of an upstream result that another
/// kernel produced). The factorizations of lapack.hpp get the same one-ulp noise on their input. Results that
/// depend on one BLAS build's rounding change under the probe; tests that assert what a method promises do not
/// (docs/reliability.md, ctest `*_rounding_probe`). The perturbation depends only on the seed, the shapes and the
/// operands, never on the thread count.
#pragma once

#include "ptq/core/rng.hpp"

#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace ptq::ref {

/// The probe's seed from PTQ_ROUNDING_PROBE (read once), 0 when the probe is off.
inline std::uint64_t rounding_probe_seed() {
  static const std::uint64_t seed = [] {
    const char* env = std::getenv("PTQ_ROUNDING_PROBE");
    return env ? std::strtoull(env, nullptr, 10) : std::uint64_t{0};
  }();
  return seed;
}

namespace detail {

/// The probe's decisions: one splitmix64 step (core/rng.hpp) from a mix of the seed and what is decided on.
inline std::uint64_t probe_hash(std::uint64_t x) { return Rng(x).next(); }

/// Moves x by one ulp, up or down as the lowest bit of `h` says (zeros and non-finite values stay).
inline float one_ulp(float x, std::uint64_t h) {
  if (!std::isfinite(x) || x == 0.0f) return x;
  return std::nextafter(x, (h & 1u) ? INFINITY : -INFINITY);
}

/// One-ulp noise on half of the elements of a (rows, cols) row-major block with leading dimension ld, into a
/// dense copy (ld = cols). Which elements move, and which way, depends on the seed and the position only.
inline std::vector<float> probe_noise(const float* a, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                      std::uint64_t seed) {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::uint64_t h = probe_hash(seed ^ static_cast<std::uint64_t>(r * cols + c) * 0x2545f4914f6cdd1dull);
      const float v = a[r * ld + c];
      out[static_cast<std::size_t>(r * cols + c)] = (h >> 1 & 1u) ? one_ulp(v, h) : v;
    }
  return out;
}

inline void cblas(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
                  std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

}  // namespace detail

/// C (M, N) = alpha * op(A) · op(B) + beta * C, row-major with leading dimensions; op(A) is (M, K) (A stored
/// (K, M) when ta), op(B) is (K, N) (B stored (N, K) when tb).
inline void sgemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
                  std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const std::uint64_t seed = rounding_probe_seed();
  if (seed == 0 || m == 0 || n == 0 || k < 2) {
    detail::cblas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const std::uint64_t h = detail::probe_hash(seed ^ static_cast<std::uint64_t>((m * 31 + n) * 31 + k));
  // A with one-ulp noise, stored as it was (transposed or not), dense.
  const std::int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const std::vector<float> an = detail::probe_noise(a, a_rows, a_cols, lda, h);
  const std::int64_t k1 = 1 + static_cast<std::int64_t>(h % static_cast<std::uint64_t>(k - 1));  // in [1, K-1]
  // Columns [k1, K) of op(A) and rows [k1, K) of op(B) first, then [0, k1) added on top.
  auto a_at = [&](std::int64_t kk) { return ta ? an.data() + kk * a_cols : an.data() + kk; };
  auto b_at = [&](std::int64_t kk) { return tb ? b + kk : b + kk * ldb; };
  detail::cblas(ta, tb, m, n, k - k1, alpha, a_at(k1), a_cols, b_at(k1), ldb, beta, c, ldc);
  detail::cblas(ta, tb, m, n, k1, alpha, a_at(0), a_cols, b_at(0), ldb, 1.0f, c, ldc);
}

/// C (M, N) = alpha * A (M, K) * B(N, K)^T + beta * C, all row-major with leading dimensions.
inline void gemm_nt(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
                    const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  sgemm(false, true, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// C (M, N) = alpha * A (M, K) * B (K, N) + beta * C, all row-major with leading dimensions.
inline void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
                    const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  sgemm(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace ptq::ref
