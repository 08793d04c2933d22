// A GPTQ case built on the host by the CPU reference (C++ compiler): a random layer W (n, k), calibration inputs
// with correlated channels (what makes GPTQ differ from RTN), the CPU Hessian and the CPU GPTQ result.
#pragma once

#include "ptq/model/image.hpp"
#include "ptq/quant/packed_arrays.hpp"
#include "ptq/quant/gptq_params.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ptq::cuda_test {

struct GptqCase {
  std::int64_t n = 0, k = 0, m = 0;
  std::vector<float> w;        // (n, k)
  std::vector<float> x;        // (m, k), added to the Hessian in two halves
  std::vector<float> hessian;  // (k, k) after both halves
  PackedArrays ref;            // the CPU result
  double loss = 0;
  float damp = 0;
  std::string name;
};

GptqCase make_gptq_case(std::int64_t n, std::int64_t k, std::int64_t m, int bits, int group, bool sym,
                        const GptqParams& prm, std::uint64_t seed);

}  // namespace ptq::cuda_test
