// The CUDA W4A16 GEMV against the CPU reference (ptq::gemv_w4 on the same packed weight and the activations
// rounded to the device dtype), for fp16 and bf16 activations, M = 1..8, symmetric / asymmetric, groups 32, 128
// and per channel, on fresh random inputs. Outputs are poisoned with NaN before each launch. Relative error
// threshold 1e-2 with a 1e-4 floor (CUTLASS's BlockCompareRelativelyEqual for int4 x bf16). Exit 77 without a GPU.
#include "gemv_case.hpp"
#include "ptq/kernels/cuda/w4a16_gemv.cuh"

#include <cmath>
#include <type_traits>
#include <cstdio>
#include <vector>

#define CUDA_OK(expr)                                                                         \
  do {                                                                                        \
    const cudaError_t e_ = (expr);                                                            \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

namespace {

template <class T>
T* upload(const std::vector<T>& v) {
  T* d = nullptr;
  CUDA_OK(cudaMalloc(&d, v.size() * sizeof(T) + 1));
  CUDA_OK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <class T> T to_device(float v);
template <> __half to_device<__half>(float v) { return __float2half_rn(v); }
template <> __nv_bfloat16 to_device<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
float to_host(__half v) { return __half2float(v); }
float to_host(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T, class Cfg>
int check_case(std::int64_t n, std::int64_t k, int m, int group, bool sym, std::uint64_t seed) {
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  const auto c = ptq::cuda_test::make_gemv_case(n, k, m, group, sym, seed, kBf16);
  std::vector<T> x(c.x.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = to_device<T>(c.x[i]);  // exact: already rounded
  auto* dq = upload(c.qweight);
  auto* ds = upload(c.scales);
  auto* dz = upload(c.qzeros);
  auto* dx = upload(x);
  T* dy = nullptr;
  CUDA_OK(cudaMalloc(&dy, c.ref.size() * sizeof(T)));
  CUDA_OK(cudaMemset(dy, 0xff, c.ref.size() * sizeof(T)));  // NaN poison
  const ptq::cuda::PackedView view{dq, reinterpret_cast<const __half*>(ds), dz, n, k, c.group};
  CUDA_OK((ptq::cuda::gemv_w4a16<Cfg>(dx, m, view, dy)));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<T> y(c.ref.size());
  CUDA_OK(cudaMemcpy(y.data(), dy, y.size() * sizeof(T), cudaMemcpyDeviceToHost));
  int bad = 0;
  double worst = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double got = to_host(y[i]), want = c.ref[i];
    // Relative 1e-2 (the output is rounded to 8 or 11 bits), floor 1e-4 * sqrt(k) for outputs near zero.
    const double rel = std::fabs(got - want) / std::max(std::fabs(want), 1e-4 * std::sqrt(static_cast<double>(k)));
    worst = std::max(worst, std::isfinite(got) ? rel : INFINITY);
    bad += !(std::isfinite(got) && rel <= (kBf16 ? 1e-2 : 2e-3));
  }
  std::printf("%s %s n=%lld k=%lld m=%d %s: worst relative error %.2e (%d bad)\n", bad ? "FAILED" : "ok",
              kBf16 ? "bf16" : "fp16", static_cast<long long>(n), static_cast<long long>(k), m, c.scheme.c_str(),
              worst, bad);
  for (void* ptr : {static_cast<void*>(dq), static_cast<void*>(ds), static_cast<void*>(dz), static_cast<void*>(dx),
                    static_cast<void*>(dy)})
    CUDA_OK(cudaFree(ptr));
  return bad ? 1 : 0;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  using Cfg = ptq::cuda::GemmConfig<ptq::W4G128Sym, ptq::cuda::Tile<8, 4, 2>, 1>;
  int failures = 0;
  std::uint64_t seed = 1;
  for (const auto [group, sym] : {std::pair{128, true}, std::pair{32, false}, std::pair{0, false}})
    for (const int m : {1, 3, 8}) {
      failures += check_case<__half, Cfg>(384, 1024, m, group, sym, seed++);
      failures += check_case<__nv_bfloat16, Cfg>(130, 3584, m, group, sym, seed++);
    }
  return failures ? 1 : 0;
}
