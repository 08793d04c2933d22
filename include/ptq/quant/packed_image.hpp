/// @file Packed weights as plain data for another device (no library types: nvcc compiles it): borrowed views of
/// ptq's native layout (quant/packed.hpp) and the owned arrays the GPU quantizers return.
#pragma once

#include <cstdint>
#include <vector>

namespace ptq {

struct PackedImage {       // ptq's native packed layout (quant/packed.hpp)
  int bits = 0;
  std::int64_t n = 0, k = 0, group = 0;     // group: input channels per scale (k when per channel)
  const std::uint32_t* qweight = nullptr;   // (n, ceil(k * bits / 32))
  const std::uint16_t* scales = nullptr;    // (n, groups) fp16 bits
  const std::uint32_t* qzeros = nullptr;    // (n, ceil(groups * bits / 32))
  const std::int32_t* g_idx = nullptr;      // (k) or null
};

struct PackedArrays {      // a packed weight owned as plain arrays (what the GPU quantizers return)
  int bits = 0, group_size = 0;             // group_size 0: per channel
  bool symmetric = true;
  std::int64_t n = 0, k = 0;
  std::vector<std::uint32_t> qweight, qzeros;
  std::vector<std::uint16_t> scales;        // fp16 bits
  std::vector<std::int32_t> g_idx;          // (k) or empty
};

}  // namespace ptq
