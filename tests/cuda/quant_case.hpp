// Quantized-product cases built on the host by the CPU reference (compiled by the C++ compiler: the CUDA sources
// see only plain data): a packed random weight in ptq's native layout and its dequantized values, activations
// already rounded to the device dtype, and reference outputs computed in double precision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ptq::cuda_test {

struct PackedCase {
  std::int64_t n = 0, k = 0, group = 0;
  int bits = 0;
  std::vector<std::uint32_t> qweight, qzeros;
  std::vector<std::uint16_t> scales;  // fp16 bits
  std::vector<std::int32_t> g_idx;    // (k) or empty
  std::vector<float> dense;           // (n, k) dequantized, float32 (exact)
  std::size_t packed_bytes = 0;
  std::string scheme;                 // config_name, e.g. "w4g128s", "w3g128a_act"
};

/// A random weight (n, k) ~ N(0, 0.05^2) quantized by RTN: group 0 = per channel; act_order: a random column order
/// with its g_idx (groups of consecutive columns in that order, as GPTQ's desc_act stores them).
PackedCase make_packed_case(std::int64_t n, std::int64_t k, int bits, int group, bool sym, bool act_order,
                            std::uint64_t seed);

struct Inputs {
  int m = 0;
  std::vector<float> x;                 // (m, k), exactly representable in the device dtype
  std::vector<std::int64_t> ref_cols;   // the output columns the reference covers (all, or an even sample)
  std::vector<float> ref;               // (m, ref_cols.size()): Σ_k x · dense in double
};

/// m random activation rows rounded to bf16 or fp16, and the reference on at most max_ref_cols columns (0: all).
Inputs make_inputs(const PackedCase& c, int m, std::uint64_t seed, bool bf16, std::int64_t max_ref_cols = 0);

}  // namespace ptq::cuda_test
