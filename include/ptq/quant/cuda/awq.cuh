/// @file AWQ's per-linear steps on the GPU, the algorithm of quant/awq.hpp: the 20-ratio scale search (scale,
/// fake-quantize with AutoAWQ's grid, unscale, run the inspected module over every calibration sample, mean squared
/// error against the full-precision output), folding, and the batched clip search (all groups of a linear in one
/// strided cuBLAS product per shrink step). pipeline/cuda/layers.cuh runs them layer by layer.
/// Differences from the CPU: the captured inputs, module outputs and the weights the modules run with are stored
/// in T (fp16/bf16) rather than float32; sums run in other orders (per-channel means in double, in a fixed order).
#pragma once

#include "ptq/kernels/cuda/awq.cuh"
#include "ptq/kernels/cuda/cublas.cuh"
#include "ptq/quant/awq_params.hpp"
#include "ptq/quant/cuda/pack_arrays.cuh"

#include <limits>

namespace ptq::cuda {

namespace detail {

/// Per-channel mean |x| over the rows of every sample (each (rows, k) in T): AWQ's x_mean.
template <class T>
std::vector<float> x_mean(const std::vector<DeviceBuffer<T>>& xs, std::int64_t k) {
  DeviceBuffer<double> sum(static_cast<std::size_t>(k));
  throw_if_failed(cudaMemset(sum.get(), 0, sum.bytes()), "x_mean");
  std::int64_t rows = 0;
  for (const auto& x : xs) {
    const auto m = static_cast<std::int64_t>(x.size()) / k;
    throw_if_failed(abs_column_sum(x.get(), m, k, sum.get()), "x_mean");
    rows += m;
  }
  std::vector<float> mean(static_cast<std::size_t>(k));
  const std::vector<double> s = sum.download();
  for (std::int64_t c = 0; c < k; ++c) mean[c] = static_cast<float>(s[c] / static_cast<double>(rows));
  return mean;
}

/// AWQ's w_mean over the rows of every linear of a group (float32 (n, k) each).
inline std::vector<float> w_mean(const std::vector<const DeviceBuffer<float>*>& ws, const std::vector<std::int64_t>& ns,
                                 std::int64_t k, std::int64_t gs) {
  DeviceBuffer<double> sum(static_cast<std::size_t>(k));
  throw_if_failed(cudaMemset(sum.get(), 0, sum.bytes()), "w_mean");
  std::int64_t rows = 0;
  for (std::size_t i = 0; i < ws.size(); ++i) {
    const std::int64_t groups = (k + gs - 1) / gs;
    DeviceBuffer<float> amax(static_cast<std::size_t>(ns[i] * groups));
    throw_if_failed(group_absmax(ws[i]->get(), ns[i], k, gs, amax.get()), "w_mean");
    throw_if_failed(w_mean_sum(ws[i]->get(), ns[i], k, gs, amax.get(), sum.get()), "w_mean");
    rows += ns[i];
  }
  std::vector<float> mean(static_cast<std::size_t>(k));
  const std::vector<double> s = sum.download();
  for (std::int64_t c = 0; c < k; ++c) mean[c] = static_cast<float>(s[c] / static_cast<double>(rows));
  return mean;
}

/// Σ (a − b)² over count elements, in a fixed order.
template <class T>
double squared_difference(const T* a, const T* b, std::int64_t count) {
  DeviceBuffer<double> partial(kSquaredDifferenceBlocks);
  throw_if_failed(squared_difference_partials(a, b, count, partial.get()), "squared difference");
  double total = 0;
  for (double v : partial.download()) total += v;
  return total;
}

/// The clip search for one linear (quant/awq.hpp awq_clip), applied in place to w (n, k): x (t, k) sampled inputs.
template <class Scheme, class T>
void clip(float* w, std::int64_t n, std::int64_t k, const DeviceBuffer<T>& x, std::int64_t t_len, const AwqParams& prm,
          cublasHandle_t cublas) {
  const std::int64_t gs = Scheme::group_size == kPerChannel ? k : Scheme::group_size, groups = (k + gs - 1) / gs;
  if (k % gs != 0) throw std::runtime_error("ptq cuda awq: the clip search needs whole groups");
  DeviceBuffer<float> xg(static_cast<std::size_t>(groups * t_len * gs)), wg(static_cast<std::size_t>(groups * n * gs)),
      qg(wg.size()), org(static_cast<std::size_t>(groups * t_len * n)), cur(org.size()),
      amax(static_cast<std::size_t>(groups * n)), min_err(amax.size()), best(amax.size());
  throw_if_failed(group_major(x.get(), t_len, k, gs, xg.get()), "clip");
  throw_if_failed(group_major(w, n, k, gs, wg.get()), "clip");
  throw_if_failed(row_absmax(wg.get(), groups * n, gs, amax.get()), "clip");
  throw_if_failed(cudaMemcpy(best.get(), amax.get(), amax.bytes(), cudaMemcpyDeviceToDevice), "clip");
  const std::vector<float> big(amax.size(), 1e9f);
  throw_if_failed(cudaMemcpy(min_err.get(), big.data(), min_err.bytes(), cudaMemcpyHostToDevice), "clip");
  // out_g (t, n) = xg_g (t, gs) · W_g^T for every group g: column-major out_g^T (n, t) = W_g (n, gs) · xg_g^T.
  auto products = [&](const float* weights, float* out) {
    gemm(cublas, false, true, t_len, n, gs, 1.0f, xg.get(), gs, weights, gs, 0.0f, out, n, "clip products",
         static_cast<int>(groups), t_len * gs, n * gs, t_len * n);
  };

  products(wg.get(), org.get());
  const int shrinks = static_cast<int>(prm.max_shrink * static_cast<float>(prm.clip_grid));
  for (int i = 0; i < shrinks; ++i) {
    const float f = 1.0f - static_cast<float>(i) / static_cast<float>(prm.clip_grid);
    throw_if_failed(clipped_fake_quantize<Scheme>(wg.get(), groups, n, gs, amax.get(), f, qg.get()), "clip");
    products(qg.get(), cur.get());
    throw_if_failed(clip_select(cur.get(), org.get(), groups, t_len, n, amax.get(), f, min_err.get(), best.get()), "clip");
  }
  throw_if_failed(apply_clip(w, n, k, gs, best.get()), "clip");
  throw_if_failed(cudaGetLastError(), "clip");
}

/// Every step-th row (step = max(1, rows / tokens)) of the concatenated samples (awq_sample_tokens), as (t, k).
template <class T>
DeviceBuffer<T> sample_rows(const std::vector<DeviceBuffer<T>>& xs, std::int64_t k, int tokens, std::int64_t* t_len) {
  std::int64_t rows = 0;
  for (const auto& x : xs) rows += static_cast<std::int64_t>(x.size()) / k;
  const std::int64_t step = std::max<std::int64_t>(1, rows / tokens);
  std::vector<std::pair<std::size_t, std::int64_t>> picks;  // (sample, row)
  std::int64_t global = 0;
  for (std::size_t s = 0; s < xs.size(); ++s)
    for (std::int64_t t = 0; t < static_cast<std::int64_t>(xs[s].size()) / k; ++t, ++global)
      if (global % step == 0) picks.emplace_back(s, t);
  DeviceBuffer<T> out(picks.size() * static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < picks.size(); ++i)
    throw_if_failed(cudaMemcpy(out.get() + i * k, xs[picks[i].first].get() + picks[i].second * k, k * sizeof(T),
                               cudaMemcpyDeviceToDevice),
                    "sampling tokens");
  *t_len = static_cast<std::int64_t>(picks.size());
  return out;
}

}  // namespace detail

}  // namespace ptq::cuda
