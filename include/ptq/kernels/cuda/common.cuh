/// @file What every ptq CUDA kernel shares: the kernel configuration types (a scheme, a tile shape, pipeline
/// stages), the device view of a packed weight in ptq's native layout (quant/packed.hpp), code extraction from the
/// bitstream, and fp16/bf16 conversions. No fmt and no host ptq headers beyond scheme/quant_scheme.hpp: nvcc compiles it.
#pragma once

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

/// The smallest run of whole 32-bit words holding whole codes: 1 word of 8 codes (4 bits), 1 word of 4 codes
/// (8 bits), 3 words of 32 codes (3 bits). Kernels stream whole chunks, so no code is split between loads.
template <int Bits>
struct Chunk {
  static constexpr int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }
  static constexpr int words = Bits / gcd(Bits, 32);
  static constexpr int codes = 32 * words / Bits;
};

/// Device view of a packed weight W (n, k) in ptq's native layout.
struct PackedView {
  const std::uint32_t* qweight = nullptr;  // (n, ceil(k * bits / 32)) code bitstream per row
  const __half* scales = nullptr;          // (n, groups)
  const std::uint32_t* qzeros = nullptr;   // (n, ceil(groups * bits / 32)) zero-point bitstream per row
  const std::int32_t* g_idx = nullptr;     // (k) group of each input channel (act-order), or null: channel / group
  std::int64_t n = 0, k = 0, group = 0;    // group: input channels per scale (k when per channel)
  int bits = 0;                            // must equal the kernel's Scheme::bits

  __host__ __device__ std::int64_t groups() const { return (k + group - 1) / group; }
  __host__ __device__ std::int64_t words_per_row() const { return (k * bits + 31) / 32; }
  __host__ __device__ std::int64_t zero_words_per_row() const { return (groups() * bits + 31) / 32; }
};

/// Code i of a little-endian bitstream of `bits`-wide codes (a code may straddle two words).
__host__ __device__ inline std::uint32_t bitstream_code(const std::uint32_t* row, std::int64_t i, int bits) {
  const std::int64_t bit = i * bits;
  const std::int64_t w = bit / 32;
  const int off = static_cast<int>(bit % 32);
  std::uint32_t v = row[w] >> off;
  if (off + bits > 32) v |= row[w + 1] << (32 - off);
  return v & ((1u << bits) - 1);
}

/// Code j (0 <= j < Chunk<Bits>::codes) of a chunk held in registers; j is a constant after unrolling.
template <int Bits>
__device__ __forceinline__ std::uint32_t chunk_code(const std::uint32_t (&w)[Chunk<Bits>::words], int j) {
  const int bit = j * Bits, wi = bit / 32, off = bit % 32;
  std::uint32_t v = w[wi] >> off;
  if (off + Bits > 32) v |= w[wi + 1] << (32 - off);
  return v & ((1u << Bits) - 1);
}

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
  const float s = __half2float(w.scales[row * w.groups() + g]);
  const float z = static_cast<float>(bitstream_code(w.qzeros + row * w.zero_words_per_row(), g, w.bits));
  return {s, z};
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
