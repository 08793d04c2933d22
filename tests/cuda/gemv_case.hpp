// A W4A16 GEMV case built on the host by the CPU reference (compiled by the C++ compiler: the CUDA sources see
// only plain data): a packed random weight in ptq's native layout, activations already rounded to the device
// dtype, and the reference output ptq::gemv_w4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ptq::cuda_test {

struct GemvCase {
  std::int64_t n = 0, k = 0, group = 0;
  int m = 0;
  std::vector<std::uint32_t> qweight, qzeros;
  std::vector<std::uint16_t> scales;  // fp16 bits
  std::vector<float> x;               // (m, k), exactly representable in the device dtype
  std::vector<float> ref;             // (m, n)
  std::size_t packed_bytes = 0;
  std::string scheme;                 // config_name, e.g. "w4g128s"
};

/// bits must be 4; group 0 = per channel; bf16: round x to bfloat16 (else fp16).
GemvCase make_gemv_case(std::int64_t n, std::int64_t k, int m, int group, bool sym, std::uint64_t seed, bool bf16);

}  // namespace ptq::cuda_test
