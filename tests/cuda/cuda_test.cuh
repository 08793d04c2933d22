// Helpers of the CUDA tests and GPU benchmarks: error checks, dtype conversion, the skip rule, the comparison every
// kernel test uses, and the benchmarks' timer.
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#define CUDA_OK(expr)                                                                              \
  do {                                                                                             \
    const cudaError_t e_ = (expr);                                                                 \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_));  \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

namespace ptq::cuda_test {

/// Exit code 77 (CTest SKIP_RETURN_CODE) when no CUDA device is present.
inline void skip_without_gpu() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    std::exit(77);
  }
}

using cuda::DeviceBuffer;

template <class T>
std::vector<T> to_dtype(const std::vector<float>& v) {
  std::vector<T> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = cuda::from_f32<T>(v[i]);
  return out;
}
template <class T>
std::vector<float> to_float(const std::vector<T>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = cuda::to_f32(v[i]);
  return out;
}

/// Unit roundoff of the device dtype: 2^-8 (bf16), 2^-11 (fp16), 2^-24 (fp32).
template <class T>
constexpr double unit_roundoff() {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return 0x1p-8;
  else if constexpr (std::is_same_v<T, __half>) return 0x1p-11;
  else return 0x1p-24;
}

/// got vs want (same length): every value finite, and each |got - want| <= tol · max(|want|, rms(want)) (a relative
/// error with the output's own scale as the floor for values near zero, as llm.c's validate_result and CUTLASS's
/// relative compare do). Prints one line; returns whether it passed.
inline bool compare(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double tol) {
  double ss = 0;
  for (float v : want) ss += static_cast<double>(v) * v;
  const double rms = std::sqrt(ss / static_cast<double>(std::max<std::size_t>(want.size(), 1)));
  std::size_t bad = 0, first = got.size();
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]) / std::max<double>(std::fabs(want[i]), rms);
    const bool ok = std::isfinite(got[i]) && err <= tol;
    worst = std::isfinite(got[i]) ? std::max(worst, err) : INFINITY;
    if (!ok && bad++ == 0) first = i;
  }
  const bool pass = got.size() == want.size() && bad == 0;
  std::printf("%-6s %s: worst error %.2e (tolerance %.1e), %zu of %zu bad", pass ? "ok" : "FAILED", what.c_str(),
              worst, tol, bad, got.size());
  if (first < got.size()) std::printf("; first [%zu] = %g, want %g", first, got[first], want[first]);
  std::printf("\n");
  return pass;
}

/// Median time of `f` over `reps` launches (one untimed warm-up), each after `flush` (untimed), in microseconds.
inline float median_us(int reps, const std::function<void()>& f, const std::function<void()>& flush = [] {}) {
  cudaEvent_t a, b;
  CUDA_OK(cudaEventCreate(&a));
  CUDA_OK(cudaEventCreate(&b));
  f();
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    flush();
    CUDA_OK(cudaEventRecord(a));
    f();
    CUDA_OK(cudaEventRecord(b));
    CUDA_OK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1000);
  }
  std::sort(t.begin(), t.end());
  CUDA_OK(cudaEventDestroy(a));
  CUDA_OK(cudaEventDestroy(b));
  return t[t.size() / 2];
}

}  // namespace ptq::cuda_test
