/// @file AWQ's kernels on the GPU (quant/cuda/awq.cuh and pipeline/cuda/layers.cuh run the algorithm): channel means,
/// scaled fake quantization with AutoAWQ's grid, a fixed-order squared error, folding the scales, the batched clip
/// search and RTN (either grid). Products and quotients use the _rn intrinsics (no contraction the CPU does not do).
/// Each kernel has its launcher, which returns the launch's cudaError_t.
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/scheme/grid.hpp"

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
  const GroupParams p = scheme_grid<Scheme>(lo, hi, Grid::kAwq);
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
  const GroupParams p = scheme_grid<Scheme>(lo, hi, Grid::kAwq);
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

/// Round-to-nearest with `kind`'s grid: codes (n, k), grids (groups, n) and, when `err` is not null, each group's
/// Σ (w - s (q - z))² (groups, n); a thread per (row, group).
template <class Scheme>
__global__ void rtn_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, Grid kind,
                           std::uint8_t* codes, GroupParams* grid, double* err) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, g = i % groups, c0 = g * gs, c1 = min(k, c0 + gs);
  float lo = w[r * k + c0], hi = lo;
  for (std::int64_t c = c0 + 1; c < c1; ++c) {
    lo = fminf(lo, w[r * k + c]);
    hi = fmaxf(hi, w[r * k + c]);
  }
  const GroupParams p = scheme_grid<Scheme>(lo, hi, kind);
  grid[g * n + r] = p;
  double e = 0;
  for (std::int64_t c = c0; c < c1; ++c) {
    const int q = quantize_code(w[r * k + c], p, Scheme::maxq);
    codes[r * k + c] = static_cast<std::uint8_t>(q);
    const double d = static_cast<double>(w[r * k + c]) - dequantize_code(q, p);
    e += d * d;
  }
  if (err) err[g * n + r] = e;
}

}  // namespace detail

// ---- launchers ----------------------------------------------------------------------------------------------------
inline constexpr int kAwqThreads = 256;
inline constexpr int kSquaredDifferenceBlocks = 1024;  // partial sums: squared_difference_partials' output size

inline unsigned awq_blocks(std::int64_t count) { return blocks_for(count, kAwqThreads); }

/// sum[c] += Σ_t |x[t, c]| for x (rows, k).
template <class T>
cudaError_t abs_column_sum(const T* x, std::int64_t rows, std::int64_t k, double* sum) {
  if (k > 0) detail::abs_column_sum_kernel<T><<<awq_blocks(k), kAwqThreads>>>(x, rows, k, sum);
  return cudaGetLastError();
}
/// amax (n, groups) = max |w| per group of w (n, k).
inline cudaError_t group_absmax(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, float* amax) {
  const std::int64_t count = n * ((k + gs - 1) / gs);
  if (count > 0) detail::group_absmax_kernel<<<awq_blocks(count), kAwqThreads>>>(w, n, k, gs, amax);
  return cudaGetLastError();
}
inline cudaError_t w_mean_sum(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, const float* amax,
                              double* sum) {
  if (k > 0) detail::w_mean_sum_kernel<<<awq_blocks(k), kAwqThreads>>>(w, n, k, gs, amax, sum);
  return cudaGetLastError();
}
/// out (n, k) in T = Q(w · diag s) · diag(s)^-1.
template <class Scheme, class T>
cudaError_t scaled_fake_quantize(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, const float* s, T* out) {
  const std::int64_t count = n * ((k + gs - 1) / gs);
  if (count > 0) detail::scaled_fake_quantize_kernel<Scheme, T><<<awq_blocks(count), kAwqThreads>>>(w, n, k, gs, s, out);
  return cudaGetLastError();
}
/// partial (kSquaredDifferenceBlocks) = per-block Σ (a − b)², each block a fixed grid-stride slice.
template <class T>
cudaError_t squared_difference_partials(const T* a, const T* b, std::int64_t count, double* partial) {
  detail::squared_difference_kernel<T><<<kSquaredDifferenceBlocks, kAwqThreads>>>(a, b, count, partial);
  return cudaGetLastError();
}
inline cudaError_t scale_columns(float* w, std::int64_t n, std::int64_t k, const float* s) {
  if (n * k > 0) detail::scale_columns_kernel<<<awq_blocks(n * k), kAwqThreads>>>(w, n, k, s);
  return cudaGetLastError();
}
inline cudaError_t divide_rows(float* w, std::int64_t n, std::int64_t k, const float* s) {
  if (n * k > 0) detail::divide_rows_kernel<<<awq_blocks(n * k), kAwqThreads>>>(w, n, k, s);
  return cudaGetLastError();
}
inline cudaError_t divide(float* v, std::int64_t n, const float* s) {
  if (n > 0) detail::divide_kernel<<<awq_blocks(n), kAwqThreads>>>(v, n, s);
  return cudaGetLastError();
}
template <class T>
cudaError_t divide_columns(T* x, std::int64_t rows, std::int64_t k, const float* s) {
  if (rows * k > 0) detail::divide_columns_kernel<T><<<awq_blocks(rows * k), kAwqThreads>>>(x, rows, k, s);
  return cudaGetLastError();
}
/// out (groups, rows, gs) = x (rows, k) group-major, as float.
template <class T>
cudaError_t group_major(const T* x, std::int64_t rows, std::int64_t k, std::int64_t gs, float* out) {
  if (rows * k > 0) detail::group_major_kernel<T><<<awq_blocks(rows * k), kAwqThreads>>>(x, rows, k, gs, out);
  return cudaGetLastError();
}
template <class Scheme>
cudaError_t clipped_fake_quantize(const float* wg, std::int64_t groups, std::int64_t n, std::int64_t gs, const float* amax,
                                  float f, float* qg) {
  if (groups * n > 0)
    detail::clipped_fake_quantize_kernel<Scheme><<<awq_blocks(groups * n), kAwqThreads>>>(wg, groups, n, gs, amax, f, qg);
  return cudaGetLastError();
}
inline cudaError_t clip_select(const float* cur, const float* org, std::int64_t groups, std::int64_t t_len, std::int64_t n,
                               const float* amax, float f, float* min_err, float* best_max) {
  if (groups * n > 0)
    detail::clip_select_kernel<<<awq_blocks(groups * n), kAwqThreads>>>(cur, org, groups, t_len, n, amax, f, min_err,
                                                                       best_max);
  return cudaGetLastError();
}
inline cudaError_t apply_clip(float* w, std::int64_t n, std::int64_t k, std::int64_t gs, const float* best_max) {
  if (n * k > 0) detail::apply_clip_kernel<<<awq_blocks(n * k), kAwqThreads>>>(w, n, k, gs, best_max);
  return cudaGetLastError();
}
inline cudaError_t row_absmax(const float* wg, std::int64_t count, std::int64_t gs, float* amax) {
  if (count > 0) detail::row_absmax_kernel<<<awq_blocks(count), kAwqThreads>>>(wg, count, gs, amax);
  return cudaGetLastError();
}
/// codes (n, k), grids (groups, n) and optionally each group's squared error (groups, n) of w (n, k) by RTN with
/// `kind`'s grid (GPTQ's for RTN, AutoAWQ's for AWQ).
template <class Scheme>
cudaError_t rtn(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, Grid kind, std::uint8_t* codes,
                GroupParams* grid, double* err = nullptr) {
  const std::int64_t count = n * ((k + gs - 1) / gs);
  if (count > 0) detail::rtn_kernel<Scheme><<<awq_blocks(count), kAwqThreads>>>(w, n, k, gs, kind, codes, grid, err);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
