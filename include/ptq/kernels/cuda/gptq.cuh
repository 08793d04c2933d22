/// @file GPTQ's kernels on the GPU and the linear algebra around them (quant/cuda/gptq.cuh runs the algorithm): group
/// grids, the per-block quantize-and-update kernel (a thread per output row, every operation one IEEE rounding so a
/// row's arithmetic is the CPU's), Hessian preparation and permutation, the act-order sort (Thrust) and the inverse
/// Cholesky factor (cuSOLVER). Each kernel has its launcher, which returns the launch's cudaError_t.
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/scheme/grid.hpp"

#include <cusolverDn.h>
#include <thrust/execution_policy.h>
#include <thrust/functional.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>

#include <memory>

namespace ptq::cuda {

inline void throw_if_failed(cusolverStatus_t s, const std::string& what) {
  if (s != CUSOLVER_STATUS_SUCCESS) throw std::runtime_error("ptq cuda: " + what + ": cuSOLVER status " + std::to_string(s));
}

/// A cuSOLVER dense handle, destroyed with its last owner.
inline std::shared_ptr<cusolverDnContext> make_cusolver() {
  cusolverDnHandle_t raw = nullptr;
  throw_if_failed(cusolverDnCreate(&raw), "cusolverDnCreate");
  return {raw, [](cusolverDnHandle_t s) { cusolverDnDestroy(s); }};
}

namespace detail {

/// Grid of rows r of wt (K, n) over quantization positions [c, c + span): (groups, n) scale and zero arrays at g.
template <class Scheme>
static __global__ void gptq_grid_kernel(const float* wt, std::int64_t n, std::int64_t c, std::int64_t span, std::int64_t g,
                                 GroupParams* grid) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= n) return;
  float lo = wt[c * n + r], hi = lo;
  for (std::int64_t j = 1; j < span; ++j) {
    const float v = wt[(c + j) * n + r];
    lo = fminf(lo, v);
    hi = fmaxf(hi, v);
  }
  grid[g * n + r] = scheme_grid<Scheme>(lo, hi, Grid::kGptq);
}

/// One block of columns [i1, i1 + count) of wt (K, n), a thread per row: quantize each column with its group's
/// grid, record the code (codes (n, K) in original channel order), the scaled error err (count, n), and update the
/// block's later columns in place. hinv (K, K) row-major upper factor; perm: quantization position -> channel.
template <class Scheme>
static __global__ void gptq_block_kernel(float* __restrict__ wt, std::int64_t n, std::int64_t k, const float* __restrict__ hinv, std::int64_t i1,
                                  int count, std::int64_t gs, const std::int64_t* perm, const GroupParams* grid,
                                  bool static_grid, std::uint8_t* codes, float* err, double* loss) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= n) return;
  double row_loss = 0;
  for (int i = 0; i < count; ++i) {
    const std::int64_t c = i1 + i, orig = perm[c];
    const GroupParams p = grid[(static_grid ? orig / gs : c / gs) * n + r];
    const float w = wt[c * n + r];
    const int q = quantize_code(w, p, Scheme::maxq);
    codes[r * k + orig] = static_cast<std::uint8_t>(q);
    const float e = __fdiv_rn(__fsub_rn(w, dequantize_code(q, p)), hinv[c * k + c]);
    row_loss += 0.5 * static_cast<double>(e) * e;
    err[static_cast<std::int64_t>(i) * n + r] = e;
    for (int j = i + 1; j < count; ++j) {
      float* wj = wt + (i1 + j) * n + r;
      *wj = __fsub_rn(*wj, __fmul_rn(e, hinv[c * k + i1 + j]));
    }
  }
  loss[r] += row_loss;
}

/// Symmetric fill (lower -> upper, column-major), dead inputs (H_ii = 0: W^T row i = 0, H_ii = 1).
static __global__ void hessian_prepare_kernel(float* h, std::int64_t k, float* wt, std::int64_t n) {
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= k * k) return;
  const std::int64_t col = idx / k, row = idx % k;  // column-major element (row, col)
  if (row < col) h[idx] = h[row * k + col];         // (row, col) above the diagonal <- (col, row) below
  if (row == col && h[idx] == 0) {
    for (std::int64_t r = 0; r < n; ++r) wt[row * n + r] = 0.0f;
    h[idx] = 1.0f;
  }
}

/// dst (k, k) = src[perm[i], perm[j]];  wdst (k, n) = wsrc rows perm[i].
static __global__ void permute_kernel(const float* src, float* dst, std::int64_t k, const std::int64_t* perm) {
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < k * k) dst[idx] = src[perm[idx / k] * k + perm[idx % k]];
}
static __global__ void permute_rows_kernel(const float* src, float* dst, std::int64_t k, std::int64_t n, const std::int64_t* perm) {
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < k * n) dst[idx] = src[perm[idx / n] * n + idx % n];
}

static __global__ void add_diagonal_kernel(float* h, std::int64_t k, float v) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < k) h[i * k + i] += v;
}

static __global__ void diagonal_kernel(const float* h, std::int64_t k, float* d) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < k) d[i] = h[i * k + i];
}

}  // namespace detail

/// In place: the upper factor U (row-major) of (H)^-1 = Uᵀ U, i.e. the lower Cholesky factor (column-major) of
/// H^-1. Returns false when a factorization fails (H not positive definite).
inline bool inverse_cholesky_upper(cusolverDnHandle_t solver, float* h, std::int64_t k) {
  const int kk = static_cast<int>(k);
  int lwork = 0, lwork2 = 0;
  throw_if_failed(cusolverDnSpotrf_bufferSize(solver, CUBLAS_FILL_MODE_LOWER, kk, h, kk, &lwork), "potrf_bufferSize");
  throw_if_failed(cusolverDnSpotri_bufferSize(solver, CUBLAS_FILL_MODE_LOWER, kk, h, kk, &lwork2), "potri_bufferSize");
  DeviceBuffer<float> work(static_cast<std::size_t>(std::max(lwork, lwork2)));
  DeviceBuffer<int> info(1);
  int host_info = 0;
  auto ok = [&] {
    throw_if_failed(cudaMemcpy(&host_info, info.get(), sizeof(int), cudaMemcpyDeviceToHost), "cholesky info");
    return host_info == 0;
  };
  throw_if_failed(cusolverDnSpotrf(solver, CUBLAS_FILL_MODE_LOWER, kk, h, kk, work.get(), lwork, info.get()), "potrf");
  if (!ok()) return false;
  throw_if_failed(cusolverDnSpotri(solver, CUBLAS_FILL_MODE_LOWER, kk, h, kk, work.get(), lwork2, info.get()), "potri");
  if (!ok()) return false;
  throw_if_failed(cusolverDnSpotrf(solver, CUBLAS_FILL_MODE_LOWER, kk, h, kk, work.get(), lwork, info.get()), "potrf");
  return ok();
}

// ---- launchers ----------------------------------------------------------------------------------------------------
inline constexpr int kGptqRowThreads = 128;  // a thread per output row

/// Grids of group g from wt (K, n) rows [c, c + span).
template <class Scheme>
cudaError_t gptq_grid(const float* wt, std::int64_t n, std::int64_t c, std::int64_t span, std::int64_t g, GroupParams* grid) {
  if (n > 0) detail::gptq_grid_kernel<Scheme><<<blocks_for(n, kGptqRowThreads), kGptqRowThreads>>>(wt, n, c, span, g, grid);
  return cudaGetLastError();
}
template <class Scheme>
cudaError_t gptq_block(float* wt, std::int64_t n, std::int64_t k, const float* hinv, std::int64_t i1, int count,
                       std::int64_t gs, const std::int64_t* perm, const GroupParams* grid, bool static_grid,
                       std::uint8_t* codes, float* err, double* loss) {
  if (n > 0)
    detail::gptq_block_kernel<Scheme><<<blocks_for(n, kGptqRowThreads), kGptqRowThreads>>>(
        wt, n, k, hinv, i1, count, gs, perm, grid, static_grid, codes, err, loss);
  return cudaGetLastError();
}
inline cudaError_t hessian_prepare(float* h, std::int64_t k, float* wt, std::int64_t n) {
  if (k > 0) detail::hessian_prepare_kernel<<<blocks_for(k * k, 256), 256>>>(h, k, wt, n);
  return cudaGetLastError();
}
inline cudaError_t permute(const float* src, float* dst, std::int64_t k, const std::int64_t* perm) {
  if (k > 0) detail::permute_kernel<<<blocks_for(k * k, 256), 256>>>(src, dst, k, perm);
  return cudaGetLastError();
}
inline cudaError_t permute_rows(const float* src, float* dst, std::int64_t k, std::int64_t n, const std::int64_t* perm) {
  if (k * n > 0) detail::permute_rows_kernel<<<blocks_for(k * n, 256), 256>>>(src, dst, k, n, perm);
  return cudaGetLastError();
}
inline cudaError_t add_diagonal(float* h, std::int64_t k, float v) {
  if (k > 0) detail::add_diagonal_kernel<<<blocks_for(k, 256), 256>>>(h, k, v);
  return cudaGetLastError();
}
inline cudaError_t diagonal(const float* h, std::int64_t k, float* d) {
  if (k > 0) detail::diagonal_kernel<<<blocks_for(k, 256), 256>>>(h, k, d);
  return cudaGetLastError();
}
/// perm = 0, 1, ..., k-1.
inline cudaError_t identity_order(std::int64_t* perm, std::int64_t k) {
  thrust::sequence(thrust::device, perm, perm + k);
  return cudaGetLastError();
}
/// perm reordered by decreasing key (stable: ties keep their order), the keys sorted with it (act-order).
inline cudaError_t descending_order(float* keys, std::int64_t* perm, std::int64_t k) {
  thrust::stable_sort_by_key(thrust::device, keys, keys + k, perm, thrust::greater<float>());
  return cudaGetLastError();
}

}  // namespace ptq::cuda
