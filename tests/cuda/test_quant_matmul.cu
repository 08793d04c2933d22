// The quantized-weight kernels (GEMV, tensor-core GEMM, the fragment-layout mma kernel, dequantization) against the CPU reference on fresh random
// inputs: every scheme of the list below (3/4/8 bits; groups 32/64/128 and per channel; symmetric and asymmetric),
// with and without act-order g_idx, fp16 and bf16 activations, odd output sizes. Reference: the weight dequantized
// by PackedWeight::dequantize_rows and the product in double precision (quant_case.cpp). Outputs are NaN-poisoned
// before each launch; the tolerance is 8 units of roundoff of the activation dtype relative to max(|y|, rms(y)) (the
// dequantized weight and the output are each rounded once to that dtype). Exit 77 without a GPU.
#include "cuda_test.cuh"
#include "quant_case.hpp"
#include "ptq/kernels/cuda/gemm_wa16.cuh"
#include "ptq/kernels/cuda/gemv_wa16.cuh"
#include "ptq/kernels/cuda/mma_wa16.cuh"
#include "ptq/quant/fragment_arrays.hpp"

#include <tuple>

namespace {

using ptq::QuantScheme;
using ptq::Symmetry;
using namespace ptq::cuda;
using namespace ptq::cuda_test;
using Schemes = std::tuple<QuantScheme<4, 128, Symmetry::kSymmetric>, QuantScheme<4, 32, Symmetry::kAsymmetric>,
                           QuantScheme<4, 64, Symmetry::kSymmetric>, QuantScheme<4, ptq::kPerChannel, Symmetry::kAsymmetric>,
                           QuantScheme<3, 128, Symmetry::kAsymmetric>, QuantScheme<3, 32, Symmetry::kSymmetric>,
                           QuantScheme<8, ptq::kPerChannel, Symmetry::kSymmetric>, QuantScheme<8, 128, Symmetry::kAsymmetric>>;

ptq::PackedView view_of(const PackedCase& c, const DeviceBuffer<std::uint32_t>& q, const DeviceBuffer<std::uint16_t>& s,
                   const DeviceBuffer<std::uint32_t>& z, const DeviceBuffer<std::int32_t>& g) {
  return {{c.n, c.k, c.group, c.bits}, q.get(), s.get(), z.get(), c.g_idx.empty() ? nullptr : g.get()};
}

template <class Scheme, class T>
int check_scheme(bool act_order, std::uint64_t& seed) {
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  const double tol = 8 * unit_roundoff<T>();
  const std::int64_t n = 200, k = 1024;
  const auto c = make_packed_case(n, k, Scheme::bits, Scheme::group_size, Scheme::symmetry == Symmetry::kSymmetric,
                                  act_order, seed++);
  const DeviceBuffer<std::uint32_t> q(c.qweight), z(c.qzeros);
  const DeviceBuffer<std::uint16_t> s(c.scales);
  const DeviceBuffer<std::int32_t> g(c.g_idx);
  const ptq::PackedView w = view_of(c, q, s, z, g);
  const std::string name = c.scheme + (kBf16 ? " bf16" : " fp16");
  int failures = 0;

  DeviceBuffer<T> dense(static_cast<std::size_t>(n * k));  // dequantization: exactly the reference rounded once
  dense.poison();
  CUDA_OK((dequantize_wa16<Scheme>(w, dense.get())));
  CUDA_OK(cudaDeviceSynchronize());
  failures += !compare(name + " dequantize", to_float(dense.download()), to_float(to_dtype<T>(c.dense)), 0.0);

  auto product = [&](const char* kernel, int m, auto launch) {
    const Inputs in = make_inputs(c, m, seed++, kBf16);
    const DeviceBuffer<T> x(to_dtype<T>(in.x));
    DeviceBuffer<T> y(static_cast<std::size_t>(m * n));
    y.poison();
    CUDA_OK(launch(x.get(), m, y.get()));
    CUDA_OK(cudaDeviceSynchronize());
    failures += !compare(name + " " + kernel + " m=" + std::to_string(m), to_float(y.download()), in.ref, tol);
  };
  using Gemv = GemmConfig<Scheme, Tile<8, 4, 2>, 1>;
  for (const int m : {1, 3, 8})
    product("gemv", m, [&](const T* x, int mm, T* y) { return gemv_wa16<Gemv>(x, mm, w, y); });
  using Gemm = GemmConfig<Scheme, Tile<64, 128, 64>, 2>;
  using GemmSmall = GemmConfig<Scheme, Tile<32, 64, 32>, 1>;
  for (const int m : {1, 17, 64, 200}) {
    product("gemm 64x128x64 s2", m, [&](const T* x, int mm, T* y) { return gemm_wa16<Gemm>(x, mm, w, y); });
    product("gemm 32x64x32 s1", m, [&](const T* x, int mm, T* y) { return gemm_wa16<GemmSmall>(x, mm, w, y); });
  }
  // The tensor-core kernel on the fragment layout (4/8 bits, groups of 16k or per channel), one split and many.
  const ptq::PackedView host{{c.n, c.k, c.group, c.bits}, c.qweight.data(), c.scales.data(), c.qzeros.data(),
                             c.g_idx.empty() ? nullptr : c.g_idx.data()};
  if constexpr (Scheme::bits == 3) {
    failures += ptq::fragment_arrays(host).has_value();  // 3-bit weights stay in the native layout
  } else {
    const auto f = ptq::fragment_arrays(host);
    if (!f) {
      std::printf("FAIL %s: no fragment layout\n", name.c_str());
      return failures + 1;
    }
    const DeviceBuffer<std::uint32_t> ft(f->tiles);
    const DeviceBuffer<std::uint16_t> fs(f->scales);
    const DeviceBuffer<std::uint8_t> fz(f->zeros);
    const DeviceBuffer<std::int32_t> fp(f->perm);
    const ptq::FragmentView fv{f->layout, ft.get(), fs.get(), f->zeros.empty() ? nullptr : fz.get(),
                               f->perm.empty() ? nullptr : fp.get()};
    int sms = 0;
    CUDA_OK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    auto mma = [&]<class Cfg>(const char* label, Cfg*) {
      for (const int m : {1, 5, 16, 33, 64})
        for (const int machine : {1, sms}) {  // one split (one SM's worth) and split-K over the device
          const MmaPlan plan = mma_wa16_plan<Cfg>(m, fv, machine);
          DeviceBuffer<float> ws(plan.workspace_floats);
          product(label, m, [&](const T* x, int mm, T* y) { return mma_wa16<Cfg>(x, mm, fv, y, plan, ws.get()); });
        }
    };
    mma("mma 16x256x8", static_cast<GemmConfig<Scheme, Tile<16, 256, 8>, 1>*>(nullptr));
    mma("mma 32x128x4", static_cast<GemmConfig<Scheme, Tile<32, 128, 4>, 1>*>(nullptr));
  }
  // Refusals: a view in another scheme.
  ptq::PackedView other = w;
  other.group = Scheme::group_size == ptq::kPerChannel ? 64 : k;
  failures += gemv_wa16<Gemv>(static_cast<const T*>(dense.get()), 1, other, dense.get()) != cudaErrorInvalidValue;
  return failures;
}

template <class... S>
int check_all(std::tuple<S...>*) {
  std::uint64_t seed = 1;
  int failures = 0;
  for (const bool act : {false, true})
    ((failures += (act && S::group_size == ptq::kPerChannel)
                      ? 0
                      : check_scheme<S, __half>(act, seed) + check_scheme<S, __nv_bfloat16>(act, seed)),
     ...);
  return failures;
}

}  // namespace

int main() {
  skip_without_gpu();
  const int failures = check_all(static_cast<Schemes*>(nullptr));
  std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
