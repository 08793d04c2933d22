/// @file What every ptq CUDA kernel shares: the kernel configuration types (a scheme, a tile shape, pipeline
/// stages), reading a packed weight's groups (the layout and its view: scheme/packed_layout.hpp), fp16/bf16
/// conversions, launch geometry and device buffers. No fmt and no host ptq headers beyond the ground floor.
#pragma once

#include "ptq/scheme/packed_layout.hpp"
#include "ptq/scheme/quant_scheme.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ptq::cuda {

/// A kernel's work shape. GEMV (gemv_wa16.cuh): M activation rows held in registers, N output rows per block (one
/// warp each), K code chunks in flight per lane. GEMM (gemm_wa16.cuh): a BM x BN output block stepping BK input
/// channels at a time.
template <int M_, int N_, int K_>
struct Tile {
  static constexpr int M = M_, N = N_, K = K_;
};

/// A kernel configuration: the quantization scheme it reads, its tile and its pipeline stages (shared-memory
/// buffers: 1 = load, then compute; 2 = the next tile is loaded while the current one is multiplied).
template <QuantSchemeLike Scheme_, class Tile_, int Stages_>
struct GemmConfig {
  using Scheme = Scheme_;
  using TileShape = Tile_;
  static constexpr int stages = Stages_;
  static_assert(Stages_ == 1 || Stages_ == 2, "one or two shared-memory stages");
};

/// Whether a packed weight is in `Scheme` (code width and group size; the symmetry only changes stored zeros).
template <QuantSchemeLike Scheme>
bool scheme_matches(const PackedView& w) {
  return w.bits == Scheme::bits && (Scheme::group_size == kPerChannel ? w.group == w.k : w.group == Scheme::group_size);
}

/// Group of input channel kc: g_idx when present, else kc / group with the group size a compile-time constant.
template <QuantSchemeLike Scheme>
__device__ __forceinline__ std::int64_t group_index(const PackedView& w, std::int64_t kc) {
  if (w.g_idx != nullptr) return __ldg(w.g_idx + kc);
  if constexpr (Scheme::group_size == kPerChannel) return 0;
  else return kc / Scheme::group_size;
}

/// (scale, zero) of group g in row `row`.
__device__ __forceinline__ float2 group_params(const PackedView& w, std::int64_t row, std::int64_t g) {
  return {__half2float(__ushort_as_half(w.scales[row * w.groups() + g])), static_cast<float>(w.zero(row, g))};
}

__host__ __device__ inline float to_f32(__half v) { return __half2float(v); }
__host__ __device__ inline float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__host__ __device__ inline float to_f32(float v) { return v; }
template <class T> __host__ __device__ T from_f32(float v);
template <> __host__ __device__ inline __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __host__ __device__ inline __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __host__ __device__ inline float from_f32<float>(float v) { return v; }

/// Activation dtypes of the fp16/bf16 paths.
template <class T>
concept Half16 = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// 1-D launch geometry: enough blocks of `threads` for `count` items.
inline unsigned blocks_for(std::int64_t count, int threads) {
  return static_cast<unsigned>((count + threads - 1) / threads);
}

/// Throws std::runtime_error naming `what` and the CUDA error unless `e` is cudaSuccess (host code).
inline void throw_if_failed(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw std::runtime_error("ptq cuda: " + what + ": " + cudaGetErrorString(e));
}

/// Device memory in use (all processes), in bytes: total minus free.
inline std::size_t device_bytes_in_use() {
  std::size_t free = 0, total = 0;
  throw_if_failed(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
  return total - free;
}

/// A device array owned by the host, freed on destruction.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    throw_if_failed(cudaMalloc(&p_, std::max<std::size_t>(n, 1) * sizeof(T)),
                    "allocating " + std::to_string(n * sizeof(T)) + " bytes");
  }
  DeviceBuffer(const T* host, std::size_t n) : DeviceBuffer(n) {
    throw_if_failed(cudaMemcpy(p_, host, n * sizeof(T), cudaMemcpyHostToDevice), "copying to the device");
  }
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.data(), v.size()) {}
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept { std::swap(p_, o.p_); std::swap(n_, o.n_); return *this; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { if (p_) cudaFree(p_); }
  [[nodiscard]] T* get() const { return p_; }
  [[nodiscard]] std::size_t size() const { return n_; }
  [[nodiscard]] std::size_t bytes() const { return n_ * sizeof(T); }
  void poison() { throw_if_failed(cudaMemset(p_, 0xff, bytes()), "cudaMemset"); }  // NaN in every float format
  [[nodiscard]] std::vector<T> download() const {
    std::vector<T> v(n_);
    throw_if_failed(cudaMemcpy(v.data(), p_, bytes(), cudaMemcpyDeviceToHost), "copying from the device");
    return v;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace ptq::cuda
