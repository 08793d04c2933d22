// W4A16 GEMV tile sweep on Qwen2.5-7B's layer shapes against cuBLAS fp16 (cublasGemmEx, the dense baseline) in
// the same run. Every configuration is validated against the CPU reference (ptq::gemv_w4) before it is timed.
// Prints CSV: shape, M, config, median us, TFLOP/s, GB/s (packed weights + activations), speedup over cuBLAS.
//   build/bench/bench_w4a16 [reps]
#include "gemv_case.hpp"
#include "ptq/kernels/cuda/w4a16_gemv.cuh"

#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#define CUDA_OK(expr) do { const cudaError_t e_ = (expr); if (e_ != cudaSuccess) { std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(e_)); std::exit(1); } } while (0)

namespace {

constexpr std::int64_t kShapes[][2] = {{4608, 3584}, {3584, 3584}, {37888, 3584}, {3584, 18944}};  // (N, K)
const char* kShapeNames[] = {"qkv 4608x3584", "o 3584x3584", "gate+up 37888x3584", "down 3584x18944"};

float median_us(int reps, const std::function<void()>& f) {
  cudaEvent_t a, b;
  CUDA_OK(cudaEventCreate(&a));
  CUDA_OK(cudaEventCreate(&b));
  f();
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    CUDA_OK(cudaEventRecord(a));
    f();
    CUDA_OK(cudaEventRecord(b));
    CUDA_OK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1000);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class T> T* upload(const std::vector<T>& v) {
  T* d = nullptr;
  CUDA_OK(cudaMalloc(&d, v.size() * sizeof(T)));
  CUDA_OK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <int N, int K>
using Cfg = ptq::cuda::GemmConfig<ptq::W4G128Sym, ptq::cuda::Tile<8, N, K>, 1>;

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  const int reps = argc > 1 ? std::atoi(argv[1]) : 50;
  cublasHandle_t handle;
  cublasCreate(&handle);
  std::printf("shape,M,config,median_us,tflops,gbps,speedup_vs_cublas_fp16\n");
  for (int s = 0; s < 4; ++s) {
    const std::int64_t n = kShapes[s][0], k = kShapes[s][1];
    __half* dw = nullptr;  // the dense fp16 weight cuBLAS reads (values do not change its time)
    CUDA_OK(cudaMalloc(&dw, static_cast<std::size_t>(n * k) * 2));
    CUDA_OK(cudaMemset(dw, 0, static_cast<std::size_t>(n * k) * 2));
    for (const int m : {1, 2, 4, 8}) {
      const auto c = ptq::cuda_test::make_gemv_case(n, k, m, 128, true, static_cast<std::uint64_t>(s * 16 + m), false);
      auto* dq = upload(c.qweight);
      auto* ds = upload(c.scales);
      auto* dz = upload(c.qzeros);
      std::vector<__half> x(c.x.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = __float2half(c.x[i]);
      auto* dx = upload(x);
      const ptq::cuda::PackedView view{dq, reinterpret_cast<const __half*>(ds), dz, n, k, c.group};
      const std::vector<float>& ref = c.ref;
      const double weight_bytes = static_cast<double>(c.packed_bytes);
      __half* dy = nullptr;
      CUDA_OK(cudaMalloc(&dy, ref.size() * sizeof(__half)));
      const __half one = __float2half(1.0f), zero = __float2half(0.0f);
      const float base = median_us(reps, [&] {  // y^T (n, m) = W (n, k) x^T: column-major view of row-major data
        cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), m, static_cast<int>(k), &one, dw, CUDA_R_16F,
                     static_cast<int>(k), dx, CUDA_R_16F, static_cast<int>(k), &zero, dy, CUDA_R_16F,
                     static_cast<int>(n), CUBLAS_COMPUTE_16F, CUBLAS_GEMM_DEFAULT);
      });
      std::printf("%s,%d,cublas_fp16,%.1f,%.2f,%.0f,1.00\n", kShapeNames[s], m, base, 2.0 * m * n * k / base / 1e6,
                  (2.0 * n * k + 2.0 * m * (n + k)) / base / 1e3);
      auto run = [&](const char* name, auto launch) {
        CUDA_OK(cudaMemset(dy, 0xff, ref.size() * sizeof(__half)));
        CUDA_OK(launch());
        CUDA_OK(cudaDeviceSynchronize());
        std::vector<__half> y(ref.size());
        CUDA_OK(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost));
        for (std::size_t i = 0; i < y.size(); ++i) {
          const float got = __half2float(y[i]);
          if (!std::isfinite(got) || std::fabs(got - ref[i]) > 1e-2f * std::max(std::fabs(ref[i]), 0.05f)) {
            std::printf("%s,%d,%s,INVALID (y[%zu] = %g, reference %g)\n", kShapeNames[s], m, name, i, got, ref[i]);
            return;
          }
        }
        const float us = median_us(reps, [&] { (void)launch(); });
        std::printf("%s,%d,%s,%.1f,%.2f,%.0f,%.2f\n", kShapeNames[s], m, name, us, 2.0 * m * n * k / us / 1e6,
                    (weight_bytes + 2.0 * m * (n + k)) / us / 1e3, base / us);
      };
      run("tile_8x2x4", [&] { return ptq::cuda::gemv_w4a16<Cfg<2, 4>>(dx, m, view, dy); });
      run("tile_8x4x2", [&] { return ptq::cuda::gemv_w4a16<Cfg<4, 2>>(dx, m, view, dy); });
      run("tile_8x4x4", [&] { return ptq::cuda::gemv_w4a16<Cfg<4, 4>>(dx, m, view, dy); });
      run("tile_8x8x2", [&] { return ptq::cuda::gemv_w4a16<Cfg<8, 2>>(dx, m, view, dy); });
      for (void* ptr : {static_cast<void*>(dq), static_cast<void*>(ds), static_cast<void*>(dz), static_cast<void*>(dx),
                        static_cast<void*>(dy)})
        CUDA_OK(cudaFree(ptr));
    }
    CUDA_OK(cudaFree(dw));
  }
  cublasDestroy(handle);
  return 0;
}
