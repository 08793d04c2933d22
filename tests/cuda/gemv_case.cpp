#include "gemv_case.hpp"

#include "ptq/core/rng.hpp"
#include "ptq/quant/packed.hpp"

#include <cstring>

namespace ptq::cuda_test {

GemvCase make_gemv_case(std::int64_t n, std::int64_t k, int m, int group, bool sym, std::uint64_t seed, bool bf16) {
  Rng rng(seed);
  std::vector<float> w(static_cast<std::size_t>(n * k));
  for (auto& v : w) v = 0.05f * rng.normal();
  const QuantSpec spec{4, group, sym ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
  const PackedWeight p = quantize_rtn(w, n, k, spec);
  GemvCase c{n, k, p.group(), m, p.qweight, p.qzeros, std::vector<std::uint16_t>(p.scales.size()),
             std::vector<float>(static_cast<std::size_t>(m * k)), std::vector<float>(static_cast<std::size_t>(m * n)),
             p.nbytes(), config_name(spec)};
  std::memcpy(c.scales.data(), p.scales.data(), c.scales.size() * 2);
  for (auto& v : c.x) v = bf16 ? to_float(to_bf16(rng.normal())) : to_float(to_fp16(rng.normal()));
  gemv_w4(p, c.x.data(), m, c.ref.data());
  return c;
}

}  // namespace ptq::cuda_test
