/// @file The GPU model's packed-product kernels as a type: which GEMV tile serves few activation rows, which
/// tensor-core GEMM (tile, stages) serves up to `dequant_rows` rows, above which the weight is dequantized once and
/// multiplied by cuBLAS (at prefill sizes the product is compute-bound). The configurations compiled are listed here,
/// named in scheme/instantiated.hpp's kModelKernelNames (same order), and chosen at run time by visit_model_kernels.
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/scheme/instantiated.hpp"

#include <tuple>

namespace ptq::cuda {

template <class GemvTile, class GemmTile, int GemmStages, std::int64_t DequantRows>
struct ModelKernels {
  template <class Scheme>
  using Gemv = GemmConfig<Scheme, GemvTile, 1>;
  template <class Scheme>
  using Gemm = GemmConfig<Scheme, GemmTile, GemmStages>;
  static constexpr std::int64_t dequant_rows = DequantRows;
  static_assert(GemvTile::M < DequantRows, "the GEMV serves fewer rows than the GEMM");
};

using InstantiatedModelKernels = std::tuple<ModelKernels<Tile<8, 4, 2>, Tile<64, 128, 64>, 2, 256>,
                                            ModelKernels<Tile<8, 8, 1>, Tile<128, 128, 32>, 2, 1024>>;
static_assert(std::tuple_size_v<InstantiatedModelKernels> == kModelKernelNames.size(),
              "a name in scheme/instantiated.hpp for every kernel configuration");
using DefaultModelKernels = std::tuple_element_t<0, InstantiatedModelKernels>;

/// Calls `f.template operator()<K>()` for configuration `index` (model_kernels_index); false when there is none.
template <class F>
bool visit_model_kernels(int index, F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return ((index == static_cast<int>(I) &&
             (f.template operator()<std::tuple_element_t<I, InstantiatedModelKernels>>(), true)) ||
            ...);
  }(std::make_index_sequence<std::tuple_size_v<InstantiatedModelKernels>>{});
}

}  // namespace ptq::cuda
