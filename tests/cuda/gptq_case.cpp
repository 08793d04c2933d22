#include "gptq_case.hpp"

#include "ptq/core/rng.hpp"
#include "ptq/quant/gptq.hpp"

#include <cstring>

namespace ptq::cuda_test {

GptqCase make_gptq_case(std::int64_t n, std::int64_t k, std::int64_t m, int bits, int group, bool sym,
                        const GptqParams& prm, std::uint64_t seed) {
  Rng rng(seed);
  GptqCase c{n, k, m, std::vector<float>(static_cast<std::size_t>(n * k)), std::vector<float>(static_cast<std::size_t>(m * k)),
             {}, {}, 0, 0, ""};
  for (auto& v : c.w) v = 0.05f * rng.normal();
  std::vector<float> scale(static_cast<std::size_t>(k));  // channel scales spread over 2 decades, one dead channel
  for (auto& s : scale) s = std::pow(10.0f, 2.0f * rng.uniform() - 1.0f);
  scale[k / 3] = 0;
  for (std::int64_t r = 0; r < m; ++r) {
    const float shared = rng.normal();  // a component every channel sees: correlated inputs
    for (std::int64_t j = 0; j < k; ++j) c.x[r * k + j] = scale[j] * (0.6f * shared + 0.8f * rng.normal());
  }
  Hessian h(k);
  h.add(c.x.data(), m / 2);
  h.add(c.x.data() + m / 2 * k, m - m / 2);
  c.hessian = h.matrix();
  const QuantSpec spec{bits, group, sym ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
  GptqResult res = gptq_quantize(c.w, n, k, c.hessian, spec, prm);
  const PackedWeight& p = res.weight;
  c.ref = {bits, group, sym, n, k, p.qweight, p.qzeros, std::vector<std::uint16_t>(p.scales.size()), p.g_idx};
  std::memcpy(c.ref.scales.data(), p.scales.data(), p.scales.size() * 2);
  c.loss = res.loss;
  c.damp = res.damp_used;
  c.name = config_name(spec) + (prm.act_order ? " act_order" : "") + (prm.static_groups ? " static_groups" : "");
  return c;
}

}  // namespace ptq::cuda_test
