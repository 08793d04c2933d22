/// @file AWQ's per-linear steps on the GPU, the algorithm of quant/awq.hpp: the 20-ratio scale search (scale,
/// fake-quantize with AutoAWQ's grid, unscale, run the inspected module over every calibration sample, mean squared
/// error against the full-precision output), folding, and the batched clip search (all groups of a linear in one
/// strided cuBLAS product per shrink step). pipeline/cuda/awq.cuh drives them over a whole model.
/// Differences from the CPU: the captured inputs, module outputs and the weights the modules run with are stored
/// in T (fp16/bf16) rather than float32; sums run in other orders (per-channel means in double, in a fixed order).
#pragma once

#include "ptq/kernels/cuda/cublas.cuh"
#include "ptq/quant/awq_params.hpp"
#include "ptq/quant/cuda/grid.cuh"

#include <limits>

namespace ptq::cuda {

namespace detail {

/// sum[c] += Σ_t |x[t, c]| for x (rows, k); a thread per channel, rows in order.
template <class T>
__global__ void abs_column_sum_kernel(const T* x, std::int64_t rows, std::int64_t k, double* sum) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= k) return;
  double s = 0;
  for (std::int64_t t = 0; t < rows; ++t) s += fabsf(to_f32(x[t * k + c]));
  sum[c] += s;
}

/// amax (n, groups) = max |w| of each quantization group of w (n, k).
static __global__ void group_absmax_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, float* amax) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, c0 = i % groups * gs, c1 = min(k, c0 + gs);
  float m = 0;
  for (std::int64_t c = c0; c < c1; ++c) m = fmaxf(m, fabsf(w[r * k + c]));
  amax[i] = m;
}

/// sum[c] += Σ_rows |w[r, c]| / (amax[r, group of c] + 1e-6); a thread per channel, rows in order.
static __global__ void w_mean_sum_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs,
                                         const float* amax, double* sum) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= k) return;
  const std::int64_t groups = (k + gs - 1) / gs;
  double s = 0;
  for (std::int64_t r = 0; r < n; ++r) s += __fdiv_rn(fabsf(w[r * k + c]), amax[r * groups + c / gs] + 1e-6f);
  sum[c] += s;
}

/// out (n, k) in T = Q(w · diag s) · diag(s)^-1 with AutoAWQ's grid: a thread per (row, group).
template <class Scheme, class T>
__global__ void scaled_fake_quantize_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs,
                                            const float* s, T* out) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, c0 = i % groups * gs, c1 = min(k, c0 + gs);
  float lo = __fmul_rn(w[r * k + c0], s[c0]), hi = lo;
  for (std::int64_t c = c0 + 1; c < c1; ++c) {
    const float v = __fmul_rn(w[r * k + c], s[c]);
    lo = fminf(lo, v);
    hi = fmaxf(hi, v);
  }
  const GroupParams p = scheme_grid<Scheme, Grid::kAwq>(lo, hi);
  for (std::int64_t c = c0; c < c1; ++c) {
    const float v = __fmul_rn(w[r * k + c], s[c]);
    out[r * k + c] = from_f32<T>(__fdiv_rn(dequantize_code(quantize_code(v, p, Scheme::maxq), p), s[c]));
  }
}

/// partial[block] = Σ (a − b)² over the block's grid-stride slice (fixed order: a deterministic total).
template <class T>
__global__ void squared_difference_kernel(const T* a, const T* b, std::int64_t count, double* partial) {
  __shared__ double part[256];
  double s = 0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double d = static_cast<double>(to_f32(a[i])) - to_f32(b[i]);
    s += d * d;
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = part[0];
}

/// w (n, k): columns (scale_columns) or rows (divide_rows) scaled by s.
static __global__ void scale_columns_kernel(float* w, std::int64_t n, std::int64_t k, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n * k) w[i] = __fmul_rn(w[i], s[i % k]);
}
static __global__ void divide_rows_kernel(float* w, std::int64_t n, std::int64_t k, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n * k) w[i] = __fdiv_rn(w[i], s[i / k]);
}
/// v (n) /= s (n); x (rows, k) in T: columns /= s.
static __global__ void divide_kernel(float* v, std::int64_t n, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) v[i] = __fdiv_rn(v[i], s[i]);
}
template <class T>
__global__ void divide_columns_kernel(T* x, std::int64_t rows, std::int64_t k, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < rows * k) x[i] = from_f32<T>(__fdiv_rn(to_f32(x[i]), s[i % k]));
}

/// Group-major copies for the clip search: xg (groups, t, gs) from x (t, k) in T; wg (groups, n, gs) from w (n, k).
template <class T>
__global__ void group_major_kernel(const T* x, std::int64_t rows, std::int64_t k, std::int64_t gs, float* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * k) return;
  const std::int64_t r = i / k, c = i % k;
  out[(c / gs * rows + r) * gs + c % gs] = to_f32(x[i]);
}

/// qg (groups, n, gs) = Q(clamp(wg, ±amax · f)) with AutoAWQ's grid; a thread per (group, row).
template <class Scheme>
__global__ void clipped_fake_quantize_kernel(const float* wg, std::int64_t groups, std::int64_t n, std::int64_t gs,
                                             const float* amax, float f, float* qg) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= groups * n) return;
  const float mv = __fmul_rn(amax[i], f);
  const float* w = wg + i * gs;
  float lo = fminf(fmaxf(w[0], -mv), mv), hi = lo;
  for (std::int64_t c = 1; c < gs; ++c) {
    const float v = fminf(fmaxf(w[c], -mv), mv);
    lo = fminf(lo, v);
    hi = fmaxf(hi, v);
  }
  const GroupParams p = scheme_grid<Scheme, Grid::kAwq>(lo, hi);
  for (std::int64_t c = 0; c < gs; ++c) qg[i * gs + c] = dequantize_code(quantize_code(fminf(fmaxf(w[c], -mv), mv), p, Scheme::maxq), p);
}

/// Per (group, row): err = Σ_t (cur − org)² / t over (groups, t, n) products; keeps the smallest and its max_val.
static __global__ void clip_select_kernel(const float* cur, const float* org, std::int64_t groups, std::int64_t t_len,
                                          std::int64_t n, const float* amax, float f, float* min_err, float* best_max) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= groups * n) return;
  const std::int64_t g = i / n, r = i % n;
  float err = 0;
  for (std::int64_t t = 0; t < t_len; ++t) {
    const float d = cur[(g * t_len + t) * n + r] - org[(g * t_len + t) * n + r];
    err += d * d;
  }
  err /= static_cast<float>(t_len);
  if (err < min_err[i]) {
    min_err[i] = err;
    best_max[i] = __fmul_rn(amax[i], f);
  }
}

/// w (n, k) clamped to ±best_max (groups, n) of its group.
static __global__ void apply_clip_kernel(float* w, std::int64_t n, std::int64_t k, std::int64_t gs, const float* best_max) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * k) return;
  const float mv = best_max[i % k / gs * n + i / k];
  w[i] = fminf(fmaxf(w[i], -mv), mv);
}

/// amax (groups, n) of wg (groups, n, gs).
static __global__ void row_absmax_kernel(const float* wg, std::int64_t count, std::int64_t gs, float* amax) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float m = 0;
  for (std::int64_t c = 0; c < gs; ++c) m = fmaxf(m, fabsf(wg[i * gs + c]));
  amax[i] = m;
}

/// RTN with AutoAWQ's grid: codes (n, k) and grids (groups, n); a thread per (row, group).
template <class Scheme>
__global__ void awq_rtn_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, std::uint8_t* codes,
                               GroupParams* grid) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, g = i % groups, c0 = g * gs, c1 = min(k, c0 + gs);
  float lo = w[r * k + c0], hi = lo;
  for (std::int64_t c = c0 + 1; c < c1; ++c) {
    lo = fminf(lo, w[r * k + c]);
    hi = fmaxf(hi, w[r * k + c]);
  }
  const GroupParams p = scheme_grid<Scheme, Grid::kAwq>(lo, hi);
  grid[g * n + r] = p;
  for (std::int64_t c = c0; c < c1; ++c) codes[r * k + c] = static_cast<std::uint8_t>(quantize_code(w[r * k + c], p, Scheme::maxq));
}

/// Per-channel mean |x| over the rows of every sample (each (rows, k) in T): AWQ's x_mean.
template <class T>
std::vector<float> x_mean(const std::vector<DeviceBuffer<T>>& xs, std::int64_t k) {
  DeviceBuffer<double> sum(static_cast<std::size_t>(k));
  throw_if_failed(cudaMemset(sum.get(), 0, sum.bytes()), "x_mean");
  std::int64_t rows = 0;
  for (const auto& x : xs) {
    const auto m = static_cast<std::int64_t>(x.size()) / k;
    abs_column_sum_kernel<T><<<blocks_for(k, 256), 256>>>(x.get(), m, k, sum.get());
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
    group_absmax_kernel<<<blocks_for(ns[i] * groups, 256), 256>>>(ws[i]->get(), ns[i], k, gs, amax.get());
    w_mean_sum_kernel<<<blocks_for(k, 256), 256>>>(ws[i]->get(), ns[i], k, gs, amax.get(), sum.get());
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
  constexpr int kBlocks = 1024;
  DeviceBuffer<double> partial(kBlocks);
  squared_difference_kernel<T><<<kBlocks, 256>>>(a, b, count, partial.get());
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
  group_major_kernel<T><<<blocks_for(t_len * k, 256), 256>>>(x.get(), t_len, k, gs, xg.get());
  group_major_kernel<float><<<blocks_for(n * k, 256), 256>>>(w, n, k, gs, wg.get());
  row_absmax_kernel<<<blocks_for(groups * n, 256), 256>>>(wg.get(), groups * n, gs, amax.get());
  throw_if_failed(cudaMemcpy(best.get(), amax.get(), amax.bytes(), cudaMemcpyDeviceToDevice), "clip");
  const std::vector<float> big(amax.size(), 1e9f);
  throw_if_failed(cudaMemcpy(min_err.get(), big.data(), min_err.bytes(), cudaMemcpyHostToDevice), "clip");
  // out_g (t, n) = xg_g (t, gs) · W_g^T for every group g: column-major out_g^T (n, t) = W_g (n, gs) · xg_g^T.
  auto products = [&](const float* weights, float* out) {
    const float one = 1.0f, zero = 0.0f;
    throw_if_failed(cublasSgemmStridedBatched(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(t_len),
                                              static_cast<int>(gs), &one, weights, static_cast<int>(gs), n * gs, xg.get(),
                                              static_cast<int>(gs), t_len * gs, &zero, out, static_cast<int>(n), t_len * n,
                                              static_cast<int>(groups)),
                    "clip products");
  };
  products(wg.get(), org.get());
  const int shrinks = static_cast<int>(prm.max_shrink * static_cast<float>(prm.clip_grid));
  for (int i = 0; i < shrinks; ++i) {
    const float f = 1.0f - static_cast<float>(i) / static_cast<float>(prm.clip_grid);
    clipped_fake_quantize_kernel<Scheme><<<blocks_for(groups * n, 256), 256>>>(wg.get(), groups, n, gs, amax.get(), f, qg.get());
    products(qg.get(), cur.get());
    clip_select_kernel<<<blocks_for(groups * n, 256), 256>>>(cur.get(), org.get(), groups, t_len, n, amax.get(), f,
                                                             min_err.get(), best.get());
  }
  apply_clip_kernel<<<blocks_for(n * k, 256), 256>>>(w, n, k, gs, best.get());
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
