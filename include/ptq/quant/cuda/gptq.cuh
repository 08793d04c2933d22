/// @file GPTQ on the GPU for one linear layer, the algorithm of quant/gptq.hpp (its CPU reference) step for step:
///   H = 2/n Σ x xᵀ accumulated by cuBLAS (float32 accumulation, as `add_batch`);  dead inputs zeroed;  act-order by a
///   Thrust stable sort of diag(H), descending;  Hinv = the upper Cholesky factor of (H + damp·mean(diag H)·I)^-1 by
///   cuSOLVER potrf -> potri -> potrf, as the reference's chol -> cholesky_inverse -> chol(upper) (damping raised
///   by 0.01 while a factorization fails);  then per block of `block_size` columns one kernel (a thread per output
///   row: group grids from the weights as they stood at the block's start, quantize, error, in-block updates
///   without FMA contraction, so each row's arithmetic is the CPU's) and one cuBLAS GEMM for the remaining columns.
/// The scheme is a compile-time type: the grid arithmetic is instantiated per bit width and group size.
/// Differences from the CPU: the trailing-update GEMM and the Hessian sum round in another order (codes agree to
/// > 99% on random layers, tests/cuda/test_gptq_gpu.cu).
///
///   ptq::cuda::GpuHessian h(k);   h.add(x_device, rows);  ...
///   ptq::PackedArrays q = ptq::cuda::gptq_quantize<ptq::W4G128Sym>(w_device, n, k, h, params, &loss);
#pragma once

#include "ptq/kernels/cuda/cublas.cuh"
#include "ptq/kernels/cuda/gptq.cuh"
#include "ptq/quant/cuda/pack_arrays.cuh"
#include "ptq/quant/packed_arrays.hpp"
#include "ptq/quant/gptq_params.hpp"

#include <memory>

namespace ptq::cuda {

/// H = 2/n Σ x xᵀ (K, K) over calibration rows, on the device.
class GpuHessian {
 public:
  explicit GpuHessian(std::int64_t k) : k_(k), h_(static_cast<std::size_t>(k * k)), cublas_(make_cublas()) {
    throw_if_failed(cudaMemset(h_.get(), 0, h_.bytes()), "GpuHessian");
  }
  /// Adds m rows x (m, K) row-major on the device (float32, fp16 or bf16; products accumulate in float32).
  template <class X>
  void add(const X* x, std::int64_t m) {
    if (m == 0) return;
    const float keep = static_cast<float>(n_) / static_cast<float>(n_ + m);
    n_ += m;
    // H = keep·H + 2/n · Xᵀ X (full matrix).
    gemm(cublas_.get(), true, false, k_, k_, m, 2.0f / static_cast<float>(n_), x, k_, x, k_, keep, h_.get(), k_,
         "Hessian product");
  }
  /// An independent copy (gptq_quantize consumes its Hessian; q, k and v share one).
  [[nodiscard]] GpuHessian clone() const {
    GpuHessian c(k_);
    c.n_ = n_;
    throw_if_failed(cudaMemcpy(c.h_.get(), h_.get(), h_.bytes(), cudaMemcpyDeviceToDevice), "copying the Hessian");
    return c;
  }
  [[nodiscard]] std::int64_t k() const { return k_; }
  [[nodiscard]] std::int64_t samples() const { return n_; }
  [[nodiscard]] float* data() { return h_.get(); }
  [[nodiscard]] std::vector<float> download() const { return h_.download(); }

 private:
  std::int64_t k_, n_ = 0;
  DeviceBuffer<float> h_;
  std::shared_ptr<cublasContext> cublas_;
};

struct GptqGpuResult {
  PackedArrays weight;
  double loss = 0;      // Σ (w - q)² / Hinv_ii² / 2
  float damp_used = 0;
};

/// GPTQ of W (n, K) row-major float32 on the device, given its Hessian (consumed: permuted and overwritten).
template <QuantSchemeLike Scheme>
GptqGpuResult gptq_quantize(const float* w, std::int64_t n, std::int64_t k, GpuHessian& hess, const GptqParams& prm) {
  using namespace detail;
  if (hess.k() != k) throw std::runtime_error("ptq cuda gptq: the Hessian is for another input width");
  const std::int64_t gs = Scheme::group_size == kPerChannel ? k : Scheme::group_size;
  const std::int64_t groups = (k + gs - 1) / gs;
  const bool static_grid = prm.static_groups && Scheme::group_size != kPerChannel;
  const auto cublas = make_cublas();
  const auto solver = make_cusolver();

  DeviceBuffer<float> wt(static_cast<std::size_t>(k * n)), tmp_w(wt.size());  // W^T (K, n): a column per row
  transpose(cublas.get(), w, n, k, wt.get(), "transpose");
  float* h = hess.data();
  throw_if_failed(hessian_prepare(h, k, wt.get(), n), "preparing H");

  DeviceBuffer<GroupParams> grid(static_cast<std::size_t>(groups * n));
  if (static_grid)  // group grids of the original weights, in channel order
    for (std::int64_t g = 0; g < groups; ++g)
      throw_if_failed(gptq_grid<Scheme>(wt.get(), n, g * gs, std::min(gs, k - g * gs), g, grid.get()), "grids");

  DeviceBuffer<std::int64_t> perm(static_cast<std::size_t>(k));
  throw_if_failed(identity_order(perm.get(), k), "order");
  DeviceBuffer<float> hinv(static_cast<std::size_t>(k * k));
  if (prm.act_order) {
    DeviceBuffer<float> diag(static_cast<std::size_t>(k));
    throw_if_failed(diagonal(h, k, diag.get()), "diag(H)");
    throw_if_failed(descending_order(diag.get(), perm.get(), k), "act-order");
    throw_if_failed(permute(h, hinv.get(), k, perm.get()), "permuting H");
    throw_if_failed(cudaMemcpy(h, hinv.get(), hinv.bytes(), cudaMemcpyDeviceToDevice), "permuting H");
    throw_if_failed(permute_rows(wt.get(), tmp_w.get(), k, n, perm.get()), "permuting W");
    std::swap(wt, tmp_w);
  }
  tmp_w = DeviceBuffer<float>();

  DeviceBuffer<float> diag(static_cast<std::size_t>(k));
  throw_if_failed(diagonal(h, k, diag.get()), "diag(H)");
  const std::vector<float> d = diag.download();
  double mean_diag = 0;
  for (float v : d) mean_diag += v;
  mean_diag /= static_cast<double>(k);
  float damp = prm.damp;
  for (int attempt = 0;; ++attempt) {
    throw_if_failed(cudaMemcpy(hinv.get(), h, hinv.bytes(), cudaMemcpyDeviceToDevice), "copying H");
    throw_if_failed(add_diagonal(hinv.get(), k, static_cast<float>(damp * mean_diag)), "damping");
    if (inverse_cholesky_upper(solver.get(), hinv.get(), k)) break;
    if (attempt >= 100) throw std::runtime_error("ptq cuda gptq: the Hessian is not positive definite even with damping");
    damp += 0.01f;
  }

  DeviceBuffer<std::uint8_t> codes(static_cast<std::size_t>(n * k));
  DeviceBuffer<float> err(static_cast<std::size_t>(prm.block_size * n));
  DeviceBuffer<double> loss(static_cast<std::size_t>(n));
  throw_if_failed(cudaMemset(loss.get(), 0, loss.bytes()), "loss");
  for (std::int64_t i1 = 0; i1 < k; i1 += prm.block_size) {
    const std::int64_t i2 = std::min(k, i1 + prm.block_size), count = i2 - i1;
    if (!static_grid)  // grids of the groups starting in this block, from the weights as they stand now
      for (std::int64_t c = (i1 + gs - 1) / gs * gs; c < i2; c += gs)
        throw_if_failed(gptq_grid<Scheme>(wt.get(), n, c, std::min(gs, k - c), c / gs, grid.get()), "grids");
    throw_if_failed(gptq_block<Scheme>(wt.get(), n, k, hinv.get(), i1, static_cast<int>(count), gs, perm.get(), grid.get(),
                                       static_grid, codes.get(), err.get(), loss.get()),
                    "gptq block");
    if (i2 < k) {  // W^T[i2:, :] -= Hinv[i1:i2, i2:]ᵀ · Err (count, n)
      gemm(cublas.get(), true, false, k - i2, n, count, -1.0f, hinv.get() + i1 * k + i2, k, err.get(), n, 1.0f,
           wt.get() + i2 * n, n, "trailing update");
    }
  }
  throw_if_failed(cudaGetLastError(), "gptq kernels");

  GptqGpuResult res;
  PackedArrays& out = res.weight;
  out = pack_arrays<Scheme>(codes.get(), grid.get(), n, k);
  if (prm.act_order && !static_grid) {
    const std::vector<std::int64_t> p = perm.download();
    out.g_idx.resize(static_cast<std::size_t>(k));
    for (std::int64_t c = 0; c < k; ++c) out.g_idx[p[c]] = static_cast<std::int32_t>(c / gs);
  }
  const std::vector<double> l = loss.download();
  for (double v : l) res.loss += v;
  res.damp_used = damp;
  return res;
}

}  // namespace ptq::cuda
