/// @file The one bridge from a runtime QuantSpec (and a kernel configuration's name) to what is compiled as types. Code that takes the scheme as a
/// template parameter (the GPU kernels, model and quantizers) is instantiated for the schemes listed here and only
/// those: each costs compile time in every translation unit that dispatches (marlin's CALL_IF note). The CLI, the
/// rows, the tests and the benchmarks choose through `visit_scheme`; quant/quantizer.hpp's `require_instantiated`
/// refuses any other scheme with this list. Ground floor: no fmt, no exceptions (nvcc compiles it).
///
///   ptq::visit_scheme(spec, [&]<class Scheme>() { run<Scheme>(...); });   // false: not instantiated
#pragma once

#include "ptq/scheme/quant_scheme.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <array>
#include <string>
#include <string_view>
#include <tuple>

namespace ptq {

/// The leaderboard's schemes (W4 g128 sym for RTN/GPTQ, W4 g128 with zero points for AWQ), the W3 and W8 points of
/// a sweep, per-channel W8, and examples/custom_scheme.cpp's W3 g64 with zero points. Each costs the GPU backend
/// (src/cuda_backend.cu: the model, GPTQ and AWQ for the scheme) about 8 s of nvcc time.
using InstantiatedSchemes = std::tuple<W4G128Sym, W4G128Asym, W3G128Asym, QuantScheme<8, 128, Symmetry::kSymmetric>,
                                       W8PerChannelSym, QuantScheme<3, 64, Symmetry::kAsymmetric>>;

/// Calls `f.template operator()<S>()` for the listed scheme S equal to `spec`; returns whether there was one.
template <class List = InstantiatedSchemes, class F>
bool visit_scheme(const QuantSpec& spec, F&& f) {
  return std::apply([&]<class... S>(S...) { return ((spec == spec_of<S>() && (f.template operator()<S>(), true)) || ...); },
                    List{});
}

/// The listed schemes' config_names, comma-separated, for messages.
template <class List = InstantiatedSchemes>
std::string instantiated_scheme_names() {
  std::string out;
  std::apply([&]<class... S>(S...) { ((out += (out.empty() ? "" : ", ") + config_name(spec_of<S>())), ...); }, List{});
  return out;
}

/// The QuantSpec whose config_name is `name` among the listed schemes; false when none is.
template <class List = InstantiatedSchemes>
bool instantiated_spec(const std::string& name, QuantSpec& out) {
  return std::apply([&]<class... S>(S...) { return ((config_name(spec_of<S>()) == name && (out = spec_of<S>(), true)) || ...); },
                    List{});
}

/// The GPU model's kernel configurations, each compiled for every scheme above, by name (their types, in this order:
/// kernels/cuda/model_kernels.cuh). A name reads: the GEMV's tile up to its M activation rows, the tensor-core GEMM's
/// tile and stages up to `dequant_<R>` rows, above R the weight dequantized once and multiplied by cuBLAS; the tile
/// names are bench_quant_matmul's rows. The first is the default (`--kernels`).
inline constexpr std::array<std::string_view, 2> kModelKernelNames{"gemv_8x4x2+gemm_64x128x64_s2+dequant_256",
                                                                   "gemv_8x8x1+gemm_128x128x32_s2+dequant_1024"};

/// The index of the kernel configuration named `name` ("" is the default, 0), or -1.
inline int model_kernels_index(std::string_view name) {
  if (name.empty()) return 0;
  for (std::size_t i = 0; i < kModelKernelNames.size(); ++i)
    if (kModelKernelNames[i] == name) return static_cast<int>(i);
  return -1;
}

/// The kernel configurations' names, comma-separated, for messages.
inline std::string model_kernels_names() {
  std::string out;
  for (const std::string_view n : kModelKernelNames) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

}  // namespace ptq
