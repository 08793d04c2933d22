/// @file Row-wise and element-wise kernels of the Qwen2 block on the GPU, float32 arithmetic on fp16/bf16 storage,
/// each the counterpart of a CPU reference in kernels/ref (elementwise.hpp, attention.hpp): dtype conversion,
/// embedding gather, RMSNorm (CUB block reduction), bias + rotate-half RoPE, SwiGLU, residual add, row gather.
/// Each kernel has its launcher below (the model and pipelines call those, as the CPU code calls kernels/ref); a
/// launcher returns the launch's cudaError_t.
#pragma once

#include "ptq/kernels/cuda/common.cuh"

#include <cub/block/block_reduce.cuh>

namespace ptq::cuda {

/// Stored element (f32, f16 or bf16 bits) -> float.
__device__ __forceinline__ float load_raw(const void* p, std::int64_t i, int dtype /* RawDtype */) {
  if (dtype == 0) return static_cast<const float*>(p)[i];
  const std::uint16_t bits = static_cast<const std::uint16_t*>(p)[i];
  if (dtype == 1) return __half2float(__ushort_as_half(bits));
  return __uint_as_float(static_cast<std::uint32_t>(bits) << 16);
}

template <class T>
__global__ void convert_kernel(const void* src, int dtype, std::int64_t count, T* dst) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) dst[i] = from_f32<T>(load_raw(src, i, dtype));
}

/// dst (float) = src (T).
template <class T>
__global__ void widen_kernel(const T* src, std::int64_t count, float* dst) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) dst[i] = to_f32(src[i]);
}

/// dst (T) = src (float).
template <class T>
__global__ void narrow_kernel(const float* src, std::int64_t count, T* dst) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) dst[i] = from_f32<T>(src[i]);
}

/// x (T, H) float = embedding rows ids[t] of table (V, H) in T.
template <class T>
__global__ void embed_kernel(const std::int32_t* ids, const T* table, std::int64_t h, float* x) {
  const std::int64_t t = blockIdx.x;
  const T* row = table + static_cast<std::int64_t>(ids[t]) * h;
  for (std::int64_t i = threadIdx.x; i < h; i += blockDim.x) x[t * h + i] = to_f32(row[i]);
}

/// out (T, H) = weight · x / sqrt(mean(x²) + eps), one block per row.
template <int Threads, class T>
__global__ void __launch_bounds__(Threads)
    rms_norm_kernel(const float* x, std::int64_t h, const float* weight, float eps, T* out) {
  using Reduce = cub::BlockReduce<float, Threads>;
  __shared__ typename Reduce::TempStorage tmp;
  __shared__ float inv;
  const float* r = x + blockIdx.x * h;
  float ss = 0;
  for (std::int64_t i = threadIdx.x; i < h; i += Threads) ss += r[i] * r[i];
  const float total = Reduce(tmp).Sum(ss);
  if (threadIdx.x == 0) inv = rsqrtf(total / static_cast<float>(h) + eps);
  __syncthreads();
  for (std::int64_t i = threadIdx.x; i < h; i += Threads) out[blockIdx.x * h + i] = from_f32<T>(weight[i] * (r[i] * inv));
}

/// In place on x (T, heads, d): + bias (heads·d, may be null), then rotate-half RoPE at position positions[t]
/// (null: t) with inv_freq[i] = theta^(-2i/d) (Hugging Face, float32). One thread per (t, head, i < d/2) pair.
template <class T>
__global__ void bias_rope_kernel(T* x, std::int64_t t_len, int heads, int d, const float* bias, float theta,
                                 const std::int32_t* positions) {
  const int half = d / 2;
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= t_len * heads * half) return;
  const int i = static_cast<int>(idx % half);
  const std::int64_t th = idx / half, t = th / heads;
  const int head = static_cast<int>(th % heads);
  T* v = x + th * d;
  float a = to_f32(v[i]), b = to_f32(v[i + half]);
  if (bias) { a = to_f32(from_f32<T>(a + bias[head * d + i])); b = to_f32(from_f32<T>(b + bias[head * d + i + half])); }
  const float inv_freq = 1.0f / powf(theta, static_cast<float>(2 * i) / static_cast<float>(d));
  float s, c;
  sincosf(static_cast<float>(positions ? positions[t] : t) * inv_freq, &s, &c);
  v[i] = from_f32<T>(a * c - b * s);
  v[i + half] = from_f32<T>(b * c + a * s);
}

/// out (R, h) = rows rows[0..R) of x (T, h).
template <class T>
__global__ void gather_rows_kernel(const T* x, std::int64_t h, const std::int32_t* rows, std::int64_t r_len, T* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < r_len * h) out[i] = x[rows[i / h] * h + i % h];
}

/// x (T, n) += bias (n), in T.
template <class T>
__global__ void bias_kernel(T* x, std::int64_t count, std::int64_t n, const float* bias) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] = from_f32<T>(to_f32(x[i]) + bias[i % n]);
}

/// gate = silu(gate) · up.
template <class T>
__global__ void swiglu_kernel(T* gate, const T* up, std::int64_t count) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g = to_f32(gate[i]);
  gate[i] = from_f32<T>(g / (1.0f + __expf(-g)) * to_f32(up[i]));
}

/// x (float) += delta (T).
template <class T>
__global__ void residual_add_kernel(float* x, const T* delta, std::int64_t count) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += to_f32(delta[i]);
}

// ---- launchers ----------------------------------------------------------------------------------------------------
// A launcher with nothing to do launches nothing (a grid of zero blocks is a launch error).
inline constexpr int kElementwiseThreads = 256;

/// dst (count) in T = src in its stored dtype (0 f32, 1 f16, 2 bf16: RawDtype).
template <class T>
cudaError_t convert(const void* src, int dtype, std::int64_t count, T* dst, cudaStream_t stream = nullptr) {
  if (count > 0)
    convert_kernel<T><<<blocks_for(count, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(src, dtype, count, dst);
  return cudaGetLastError();
}
template <class T>
cudaError_t widen(const T* src, std::int64_t count, float* dst, cudaStream_t stream = nullptr) {
  if (count > 0)
    widen_kernel<T><<<blocks_for(count, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(src, count, dst);
  return cudaGetLastError();
}
template <class T>
cudaError_t narrow(const float* src, std::int64_t count, T* dst, cudaStream_t stream = nullptr) {
  if (count > 0)
    narrow_kernel<T><<<blocks_for(count, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(src, count, dst);
  return cudaGetLastError();
}
/// x (t_len, h) float = table rows ids[t].
template <class T>
cudaError_t embed(const std::int32_t* ids, std::int64_t t_len, const T* table, std::int64_t h, float* x,
                  cudaStream_t stream = nullptr) {
  if (t_len > 0) embed_kernel<T><<<static_cast<unsigned>(t_len), kElementwiseThreads, 0, stream>>>(ids, table, h, x);
  return cudaGetLastError();
}
template <class T>
cudaError_t rms_norm(const float* x, std::int64_t t_len, std::int64_t h, const float* weight, float eps, T* out,
                     cudaStream_t stream = nullptr) {
  if (t_len > 0) rms_norm_kernel<256, T><<<static_cast<unsigned>(t_len), 256, 0, stream>>>(x, h, weight, eps, out);
  return cudaGetLastError();
}
/// In place on x (t_len, heads, d): + bias, RoPE at positions (null: 0..t_len-1).
template <class T>
cudaError_t bias_rope(T* x, std::int64_t t_len, int heads, int d, const float* bias, float theta,
                      const std::int32_t* positions, cudaStream_t stream = nullptr) {
  if (t_len > 0)
    bias_rope_kernel<T><<<blocks_for(t_len * heads * (d / 2), kElementwiseThreads), kElementwiseThreads, 0, stream>>>(
      x, t_len, heads, d, bias, theta, positions);
  return cudaGetLastError();
}
template <class T>
cudaError_t gather_rows(const T* x, std::int64_t h, const std::int32_t* rows, std::int64_t r_len, T* out,
                        cudaStream_t stream = nullptr) {
  if (r_len > 0)
    gather_rows_kernel<T><<<blocks_for(r_len * h, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(x, h, rows, r_len, out);
  return cudaGetLastError();
}
/// x (m, n) += bias (n).
template <class T>
cudaError_t add_bias(T* x, std::int64_t m, std::int64_t n, const float* bias, cudaStream_t stream = nullptr) {
  if (m > 0)
    bias_kernel<T><<<blocks_for(m * n, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(x, m * n, n, bias);
  return cudaGetLastError();
}
template <class T>
cudaError_t swiglu(T* gate, const T* up, std::int64_t count, cudaStream_t stream = nullptr) {
  if (count > 0)
    swiglu_kernel<T><<<blocks_for(count, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(gate, up, count);
  return cudaGetLastError();
}
template <class T>
cudaError_t residual_add(float* x, const T* delta, std::int64_t count, cudaStream_t stream = nullptr) {
  if (count > 0)
    residual_add_kernel<T><<<blocks_for(count, kElementwiseThreads), kElementwiseThreads, 0, stream>>>(x, delta, count);
  return cudaGetLastError();
}

}  // namespace ptq::cuda
