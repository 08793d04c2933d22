#include "quant_case.hpp"

#include "ptq/core/rng.hpp"
#include "ptq/quant/packed.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace ptq::cuda_test {

PackedCase make_packed_case(std::int64_t n, std::int64_t k, int bits, int group, bool sym, bool act_order,
                            std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> w(static_cast<std::size_t>(n * k));
  for (auto& v : w) v = 0.05f * rng.normal();
  const QuantSpec spec{bits, group, sym ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
  std::vector<std::int64_t> perm(static_cast<std::size_t>(k));
  std::iota(perm.begin(), perm.end(), 0);
  if (act_order)
    for (std::int64_t i = k - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<std::uint64_t>(i + 1))]);
  std::vector<float> wp(w.size());  // columns in quantization order
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < k; ++c) wp[r * k + c] = w[r * k + perm[c]];
  PackedWeight p = quantize_rtn(wp, n, k, spec);
  if (act_order) {  // codes back in channel order; g_idx names each channel's group
    PackedWeight q = PackedWeight::empty(spec, n, k);
    q.scales = p.scales;
    q.qzeros = p.qzeros;
    q.g_idx.resize(static_cast<std::size_t>(k));
    for (std::int64_t c = 0; c < k; ++c) q.g_idx[perm[c]] = static_cast<std::int32_t>(c / p.group());
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t c = 0; c < k; ++c) q.set_code(r, perm[c], p.code(r, c));
    p = std::move(q);
  }
  PackedCase out{n, k, p.group(), bits, p.qweight, p.qzeros, std::vector<std::uint16_t>(p.scales.size()), p.g_idx,
                 std::vector<float>(w.size()), p.nbytes(), config_name(spec) + (act_order ? "_act" : "")};
  std::memcpy(out.scales.data(), p.scales.data(), out.scales.size() * 2);
  p.dequantize_rows(0, n, out.dense.data());
  return out;
}

Inputs make_inputs(const PackedCase& c, int m, std::uint64_t seed, bool bf16, std::int64_t max_ref_cols) {
  Rng rng(seed);
  Inputs in{m, std::vector<float>(static_cast<std::size_t>(m * c.k)), {}, {}};
  for (auto& v : in.x) v = bf16 ? to_float(to_bf16(rng.normal())) : to_float(to_fp16(rng.normal()));
  const std::int64_t cols = max_ref_cols > 0 ? std::min(max_ref_cols, c.n) : c.n;
  for (std::int64_t j = 0; j < cols; ++j) in.ref_cols.push_back(j * c.n / cols);
  in.ref.resize(static_cast<std::size_t>(m * cols));
#pragma omp parallel for schedule(static)
  for (std::int64_t j = 0; j < cols; ++j) {
    const float* w = c.dense.data() + in.ref_cols[j] * c.k;
    for (int i = 0; i < m; ++i) {
      const float* x = in.x.data() + static_cast<std::int64_t>(i) * c.k;
      double s = 0;
      for (std::int64_t t = 0; t < c.k; ++t) s += static_cast<double>(x[t]) * w[t];
      in.ref[i * cols + j] = static_cast<float>(s);
    }
  }
  return in;
}

}  // namespace ptq::cuda_test
