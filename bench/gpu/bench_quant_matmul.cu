// Quantized-weight products on Qwen2.5-7B's layer shapes, bf16 activations, against cuBLAS bf16 (cublasGemmEx on the
// dense weight, float32 accumulation) in the same run, over M in {1, 2, 4, 8, 16, 32, 64, 128, 256}: the GEMV tile
// configurations (M <= 8), the fragment-layout mma kernel (M <= 64, 4- and 8-bit: mma_wa16.cuh, split-K planned for
// this device's SMs), the tensor-core GEMM tile configurations, and dequantize + cuBLAS. Every configuration is
// validated against the CPU reference (double-precision product on 512 sampled output columns) before it is timed;
// invalid ones are reported, not timed. L2 is flushed before every timed launch (a 512 MB write: weights come from
// HBM, as in a forward pass through many layers). Bandwidth is compared with a device-to-device copy measured in the
// same run. Medians of `reps` launches.
// Prints CSV: shape, M, kernel, median us, TFLOP/s, GB/s (packed weights + activations), % of copy bandwidth,
// speedup over cuBLAS bf16.
//   bench_quant_matmul [reps=50] [scheme: w4g128s | w8g128s | w3g128a]
#include "cuda_test.cuh"
#include "quant_case.hpp"
#include "ptq/kernels/cuda/gemm_wa16.cuh"
#include "ptq/kernels/cuda/gemv_wa16.cuh"
#include "ptq/kernels/cuda/mma_wa16.cuh"
#include "ptq/quant/fragment_arrays.hpp"
#include "ptq/scheme/instantiated.hpp"

#include <cublas_v2.h>

#include <functional>

namespace {

using namespace ptq::cuda;
using namespace ptq::cuda_test;

constexpr std::int64_t kShapes[][2] = {{4608, 3584}, {3584, 3584}, {37888, 3584}, {3584, 18944}};  // (N, K)
const char* kShapeNames[] = {"qkv 4608x3584", "o 3584x3584", "gate+up 37888x3584", "down 3584x18944"};
constexpr int kBatch[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
using T = __nv_bfloat16;  // the leaderboard's activations

/// Device copy bandwidth (read + write bytes per second), GB/s: the ceiling a weight-streaming kernel can reach.
double copy_gbps(int reps) {
  const std::size_t bytes = std::size_t{1} << 30;
  DeviceBuffer<unsigned char> a(bytes), b(bytes);
  const float us = median_us(reps, [&] { CUDA_OK(cudaMemcpy(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice)); });
  return 2.0 * static_cast<double>(bytes) / us / 1e3;
}

template <class Scheme>
int sweep(int reps) {
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return 1;
  const double copy = copy_gbps(reps);
  int sms = 0;
  CUDA_OK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  DeviceBuffer<unsigned char> l2(std::size_t{512} << 20);
  const auto flush = [&] { CUDA_OK(cudaMemsetAsync(l2.get(), 0, l2.bytes())); };
  std::printf("# device copy bandwidth %.0f GB/s, %d SMs; L2 flushed before each launch\n", copy, sms);
  std::printf("shape,M,kernel,median_us,tflops,gbps,pct_copy_bw,speedup_vs_cublas_bf16\n");
  int invalid = 0;
  for (int s = 0; s < 4; ++s) {
    const std::int64_t n = kShapes[s][0], k = kShapes[s][1];
    const PackedCase c = make_packed_case(n, k, Scheme::bits, Scheme::group_size,
                                          Scheme::symmetry == ptq::Symmetry::kSymmetric, false, 100 + s);
    const DeviceBuffer<std::uint32_t> q(c.qweight), z(c.qzeros);
    const DeviceBuffer<std::uint16_t> sc(c.scales);
    const ptq::PackedView w{{n, k, c.group, c.bits}, q.get(), sc.get(), z.get(), nullptr};
    const DeviceBuffer<T> dense(to_dtype<T>(c.dense));  // cuBLAS's weight (and dequantize's scratch)
    DeviceBuffer<T> scratch(dense.size());
    // The fragment layout, made on the host as the model loader would (empty for 3-bit weights).
    const ptq::PackedView host{{n, k, c.group, c.bits}, c.qweight.data(), c.scales.data(), c.qzeros.data(), nullptr};
    const auto frag = ptq::fragment_arrays(host);
    const DeviceBuffer<std::uint32_t> ft(frag ? frag->tiles : std::vector<std::uint32_t>{});
    const DeviceBuffer<std::uint16_t> fs(frag ? frag->scales : std::vector<std::uint16_t>{});
    const DeviceBuffer<std::uint8_t> fz(frag ? frag->zeros : std::vector<std::uint8_t>{});
    const ptq::FragmentView fv = frag ? ptq::FragmentView{frag->layout, ft.get(), fs.get(),
                                                          frag->zeros.empty() ? nullptr : fz.get(), nullptr}
                                      : ptq::FragmentView{};
    for (const int m : kBatch) {
      const Inputs in = make_inputs(c, m, 1000 + m, true, 512);
      const DeviceBuffer<T> x(to_dtype<T>(in.x));
      DeviceBuffer<T> y(static_cast<std::size_t>(m * n));
      const double flops = 2.0 * m * n * k, act_bytes = 2.0 * m * (n + k);
      const float one = 1.0f, zero = 0.0f;
      auto cublas = [&](const T* wd) {
        return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), m, static_cast<int>(k), &one, wd,
                            CUDA_R_16BF, static_cast<int>(k), x.get(), CUDA_R_16BF, static_cast<int>(k), &zero, y.get(),
                            CUDA_R_16BF, static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS
                   ? cudaSuccess
                   : cudaErrorUnknown;
      };
      const float base = median_us(reps, [&] { (void)cublas(dense.get()); }, flush);
      std::printf("%s,%d,cublas_bf16,%.1f,%.2f,%.0f,%.0f,1.00\n", kShapeNames[s], m, base, flops / base / 1e6,
                  (2.0 * n * k + act_bytes) / base / 1e3, 100 * (2.0 * n * k + act_bytes) / base / 1e3 / copy);
      auto run = [&](const std::string& name, const std::function<cudaError_t()>& launch) {
        y.poison();
        if (launch() != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
          std::printf("%s,%d,%s,INVALID (launch failed)\n", kShapeNames[s], m, name.c_str());
          ++invalid;
          return;
        }
        const std::vector<float> all = to_float(y.download());
        std::vector<float> got;
        for (int i = 0; i < m; ++i)
          for (const std::int64_t col : in.ref_cols) got.push_back(all[static_cast<std::size_t>(i * n + col)]);
        if (!compare(std::string(kShapeNames[s]) + " M=" + std::to_string(m) + " " + name, got, in.ref,
                     8 * unit_roundoff<T>())) {
          std::printf("%s,%d,%s,INVALID\n", kShapeNames[s], m, name.c_str());
          ++invalid;
          return;
        }
        const float us = median_us(reps, [&] { (void)launch(); }, flush);
        const double gb = (static_cast<double>(c.packed_bytes) + act_bytes) / us / 1e3;
        std::printf("%s,%d,%s,%.1f,%.2f,%.0f,%.0f,%.2f\n", kShapeNames[s], m, name.c_str(), us, flops / us / 1e6, gb,
                    100 * gb / copy, base / us);
      };
      if (m <= 8) {
        run("gemv_8x2x4", [&] { return gemv_wa16<GemmConfig<Scheme, Tile<8, 2, 4>, 1>>(x.get(), m, w, y.get()); });
        run("gemv_8x4x2", [&] { return gemv_wa16<GemmConfig<Scheme, Tile<8, 4, 2>, 1>>(x.get(), m, w, y.get()); });
        run("gemv_8x8x1", [&] { return gemv_wa16<GemmConfig<Scheme, Tile<8, 8, 1>, 1>>(x.get(), m, w, y.get()); });
      }
      if (frag && m <= 64) {
        auto mma = [&]<class Cfg>(const char* name, Cfg*) {
          const MmaPlan plan = mma_wa16_plan<Cfg>(m, fv, sms);
          DeviceBuffer<float> ws(plan.workspace_floats);
          run(name, [&] { return mma_wa16<Cfg>(x.get(), m, fv, y.get(), plan, ws.get()); });
        };
        if constexpr (Scheme::bits == 4 || Scheme::bits == 8) {
          mma("mma_16x256x8", static_cast<GemmConfig<Scheme, Tile<16, 256, 8>, 1>*>(nullptr));
          mma("mma_16x128x8", static_cast<GemmConfig<Scheme, Tile<16, 128, 8>, 1>*>(nullptr));
          mma("mma_32x128x4", static_cast<GemmConfig<Scheme, Tile<32, 128, 4>, 1>*>(nullptr));
        }
      }
      run("gemm_32x64x64_s2", [&] { return gemm_wa16<GemmConfig<Scheme, Tile<32, 64, 64>, 2>>(x.get(), m, w, y.get()); });
      run("gemm_64x128x64_s2", [&] { return gemm_wa16<GemmConfig<Scheme, Tile<64, 128, 64>, 2>>(x.get(), m, w, y.get()); });
      run("gemm_128x128x32_s2", [&] { return gemm_wa16<GemmConfig<Scheme, Tile<128, 128, 32>, 2>>(x.get(), m, w, y.get()); });
      run("gemm_64x128x64_s1", [&] { return gemm_wa16<GemmConfig<Scheme, Tile<64, 128, 64>, 1>>(x.get(), m, w, y.get()); });
      run("dequant_cublas", [&] {
        const cudaError_t e = dequantize_wa16<Scheme>(w, scratch.get());
        return e != cudaSuccess ? e : cublas(scratch.get());
      });
    }
  }
  cublasDestroy(handle);
  std::printf("# %d invalid configuration(s)\n", invalid);
  return invalid ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  skip_without_gpu();
  const int reps = argc > 1 ? std::atoi(argv[1]) : 50;
  const std::string name = argc > 2 ? argv[2] : "w4g128s";
  ptq::QuantSpec spec;
  int status = 2;
  if (!ptq::instantiated_spec(name, spec) || !ptq::visit_scheme(spec, [&]<class Scheme>() { status = sweep<Scheme>(reps); }))
    std::fprintf(stderr, "scheme %s is not instantiated (instantiated: %s)\n", name.c_str(),
                 ptq::instantiated_scheme_names().c_str());
  return status;
}
