/// @file Packing on the GPU, shared by GPTQ (quant/cuda/gptq.cuh) and AWQ: a quantizer's codes and group grids into
/// ptq's native layout (scheme/packed_layout.hpp; the kernels: kernels/cuda/pack.cuh), returned to the host as
/// PackedArrays.
#pragma once

#include "ptq/kernels/cuda/pack.cuh"
#include "ptq/quant/packed_arrays.hpp"

namespace ptq::cuda::detail {

/// The packed weight (ptq's native layout, on the host) of codes (n, k) and grids (groups, n) on the device.
template <QuantSchemeLike Scheme>
PackedArrays pack_arrays(const std::uint8_t* codes, const GroupParams* grid, std::int64_t n, std::int64_t k) {
  const PackedLayout layout{n, k, Scheme::group_size == kPerChannel ? k : Scheme::group_size, Scheme::bits};
  const std::int64_t groups = layout.groups(), words = layout.words_per_row(), zero_words = layout.zero_words_per_row();
  DeviceBuffer<std::uint32_t> qweight(static_cast<std::size_t>(n * words)), qzeros(static_cast<std::size_t>(n * zero_words));
  DeviceBuffer<std::uint16_t> scales(static_cast<std::size_t>(n * groups));
  DeviceBuffer<std::uint8_t> zeros(static_cast<std::size_t>(n * groups));
  throw_if_failed(pack_bits(codes, n, k, Scheme::bits, qweight.get()), "packing codes");
  throw_if_failed(grid_to_rows(grid, n, groups, scales.get(), zeros.get()), "packing grids");
  throw_if_failed(pack_bits(zeros.get(), n, groups, Scheme::bits, qzeros.get()), "packing zero points");
  return {Scheme::bits, Scheme::group_size, Scheme::symmetry == Symmetry::kSymmetric, n, k,
          qweight.download(), qzeros.download(), scales.download(), {}};
}

}  // namespace ptq::cuda::detail
