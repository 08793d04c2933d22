// GPTQ on the GPU against the CPU implementation (quant/gptq.hpp) on random layers with correlated calibration inputs
// and a dead channel: the Hessian (relative error <= 1e-5 of its scale), the codes (>= 99% identical: the trailing
// update and the Hessian sum round in another order), the scales (>= 99% identical), g_idx (identical) and the loss
// (within 1%), for W4 g128 symmetric, W4 g32 asymmetric with act-order, W4 g64 act-order + static groups, W3 g128
// asymmetric and W8 per channel. Exit 77 without a GPU.
#include "cuda_test.cuh"
#include "gptq_case.hpp"
#include "ptq/quant/cuda/gptq.cuh"

namespace {

using namespace ptq::cuda_test;
using ptq::QuantScheme;
using ptq::Symmetry;

double agreement(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b, std::int64_t rows,
                 std::int64_t count, int bits) {
  const std::int64_t words = (count * bits + 31) / 32;
  std::int64_t same = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t i = 0; i < count; ++i)
      same += ptq::bitstream_get(a.data() + r * words, i, bits) == ptq::bitstream_get(b.data() + r * words, i, bits);
  return static_cast<double>(same) / static_cast<double>(rows * count);
}

template <class Scheme>
int check(const ptq::GptqParams& prm, std::uint64_t seed) {
  const std::int64_t n = 192, k = 512, m = 1024;
  const GptqCase c = make_gptq_case(n, k, m, Scheme::bits, Scheme::group_size, Scheme::symmetry == Symmetry::kSymmetric,
                                    prm, seed);
  const DeviceBuffer<float> w(c.w), x(c.x);
  ptq::cuda::GpuHessian h(k);
  h.add(x.get(), m / 2);
  h.add(x.get() + m / 2 * k, m - m / 2);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> lower = h.download(), want(lower.size());  // column-major lower triangle vs the full CPU matrix
  for (std::int64_t col = 0; col < k; ++col)
    for (std::int64_t row = 0; row < k; ++row) {
      if (row < col) lower[col * k + row] = 0;
      want[col * k + row] = row < col ? 0.0f : c.hessian[row * k + col];
    }
  int failures = !compare(c.name + " Hessian", lower, want, 1e-5);
  const auto res = ptq::cuda::gptq_quantize<Scheme>(w.get(), n, k, h, prm);
  const std::int64_t groups = (k + (Scheme::group_size ? Scheme::group_size : k) - 1) / (Scheme::group_size ? Scheme::group_size : k);
  const double codes = agreement(res.weight.qweight, c.ref.qweight, n, k, Scheme::bits);
  std::int64_t same_scales = 0;
  for (std::size_t i = 0; i < c.ref.scales.size(); ++i) same_scales += res.weight.scales[i] == c.ref.scales[i];
  const double scales = static_cast<double>(same_scales) / static_cast<double>(n * groups);
  const double loss_rel = std::fabs(res.loss - c.loss) / c.loss;
  const bool ok = codes >= 0.99 && scales >= 0.99 && res.weight.g_idx == c.ref.g_idx && loss_rel <= 0.01 &&
                  res.damp_used == c.damp;
  std::printf("%-6s %s gptq: codes %.4f, scales %.4f identical, g_idx %s, loss %.6g vs %.6g (CPU), damp %.2f\n",
              ok ? "ok" : "FAILED", c.name.c_str(), codes, scales, res.weight.g_idx == c.ref.g_idx ? "equal" : "DIFFER",
              res.loss, c.loss, res.damp_used);
  return failures + !ok;
}

}  // namespace

int main() {
  skip_without_gpu();
  int failures = 0;
  ptq::GptqParams plain, act, act_static;
  act.act_order = true;
  act_static.act_order = act_static.static_groups = true;
  failures += check<QuantScheme<4, 128, Symmetry::kSymmetric>>(plain, 1);
  failures += check<QuantScheme<4, 32, Symmetry::kAsymmetric>>(act, 2);
  failures += check<QuantScheme<4, 64, Symmetry::kSymmetric>>(act_static, 3);
  failures += check<QuantScheme<3, 128, Symmetry::kAsymmetric>>(plain, 4);
  failures += check<QuantScheme<8, ptq::kPerChannel, Symmetry::kSymmetric>>(plain, 5);
  std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
