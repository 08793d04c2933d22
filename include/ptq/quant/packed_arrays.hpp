/// @file A packed weight owned as plain arrays in ptq's native layout (scheme/packed_layout.hpp): what the GPU
/// quantizers return to the host. No library types: nvcc compiles it.
#pragma once

#include "ptq/scheme/packed_layout.hpp"

#include <cstdint>
#include <vector>

namespace ptq {

struct PackedArrays {
  int bits = 0, group_size = 0;             // group_size 0: per channel
  bool symmetric = true;
  std::int64_t n = 0, k = 0;
  std::vector<std::uint32_t> qweight, qzeros;
  std::vector<std::uint16_t> scales;        // fp16 bits
  std::vector<std::int32_t> g_idx;          // (k) or empty

  /// The arrays as a borrowed view.
  [[nodiscard]] PackedView view() const {
    return {{n, k, group_size == 0 ? k : group_size, bits}, qweight.data(), scales.data(), qzeros.data(),
            g_idx.empty() ? nullptr : g_idx.data()};
  }
};

}  // namespace ptq
