/// @file The one bridge from a runtime QuantSpec to the schemes compiled as types. Code that takes the scheme as a
/// template parameter (the GPU kernels, model and quantizers) is instantiated for the schemes listed here and only
/// those: each costs compile time in every translation unit that dispatches (marlin's CALL_IF note). The CLI, the
/// rows, the tests and the benchmarks choose through `visit_scheme`; quant/quantizer.hpp's `require_instantiated`
/// refuses any other scheme with this list. Ground floor: no fmt, no exceptions (nvcc compiles it).
///
///   ptq::visit_scheme(spec, [&]<class Scheme>() { run<Scheme>(...); });   // false: not instantiated
#pragma once

#include "ptq/scheme/quant_scheme.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <string>
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

}  // namespace ptq
