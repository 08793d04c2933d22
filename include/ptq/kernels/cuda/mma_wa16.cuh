/// @file Quantized-weight product on tensor cores from the fragment layout (scheme/fragment_layout.hpp), for
/// batches 1 to 64: y (m, n) = x (m, k) · W^T, x and y fp16 or bf16, W 4- or 8-bit, groups (multiples of 16) or per
/// channel, symmetric or asymmetric, act-order (x gathered through the layout's perm). Memory-bound at small m: each
/// lane fetches its B fragments of a 16 x 64 tile with one 16-byte streaming load (L2 evict-first: the weights are
/// read once), dequantizes them by the exponent-bias trick (biased_pair: no integer-to-float conversion) to exact
/// q - z, and runs mma.sync m16n8k16 with float32 accumulators per group; at each group's end the accumulators are
/// scaled by the columns' scales (one 32-byte read per lane) and added to the totals, so the dequantized weight is
/// never rounded to 16 bits. Split-K over the SMs with a deterministic reduction: each split writes float32
/// partials to a workspace and mma_wa16_reduce sums them in split order.
///
///   using Cfg = ptq::cuda::GemmConfig<ptq::W4G128Sym, ptq::cuda::Tile<16, 256, 8>, 1>;  // M rows, 4 warps, 8 k16 steps staged
///   const auto plan = ptq::cuda::mma_wa16_plan<Cfg>(m, view, sms);
///   ptq::cuda::mma_wa16<Cfg>(x, m, view, y, plan, workspace, stream);  // workspace: plan.workspace_floats
/// Tile<M, N, K>: M (16 or 32) rows of x per block (one or two m16 fragments), N / 64 warps, each a strip of 64
/// columns; K k16 steps of x staged in shared memory at a time. Reference: the CPU emulation of the same fragments
/// (tests/quant/test_fragment_layout.cpp) and a double product (tests/cuda/test_quant_matmul.cu).
#pragma once

#include "ptq/kernels/cuda/common.cuh"
#include "ptq/scheme/fragment_layout.hpp"

namespace ptq::cuda {

namespace detail {

/// d = a - b on two 16-bit floats of the activation dtype held in 32-bit registers.
template <Half16 T>
__device__ __forceinline__ std::uint32_t sub2(std::uint32_t a, std::uint32_t b) {
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 d = __hsub2(*reinterpret_cast<const __half2*>(&a), *reinterpret_cast<const __half2*>(&b));
    return *reinterpret_cast<const std::uint32_t*>(&d);
  } else {
    const __nv_bfloat162 d =
        __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&a), *reinterpret_cast<const __nv_bfloat162*>(&b));
    return *reinterpret_cast<const std::uint32_t*>(&d);
  }
}

/// Pair i of a layout word as exact (q - z) in T: the biased pair minus the biased zero point `bz` (magic + z in both
/// halves). bf16 holds magic + q exactly only for q < 128, so W8 with bf16 subtracts in fp16 and converts (exact:
/// |q - z| <= 255 has at most 8 significant bits).
template <Half16 T, int Bits>
__device__ __forceinline__ std::uint32_t dequant_pair(std::uint32_t word, int i, std::uint32_t bz) {
  if constexpr (std::is_same_v<T, __nv_bfloat16> && Bits == 8) {
    const std::uint32_t h = sub2<__half>(biased_pair<Bits>(word, i, kFp16Magic), bz);
    const __nv_bfloat162 d = __float22bfloat162_rn(__half22float2(*reinterpret_cast<const __half2*>(&h)));
    return *reinterpret_cast<const std::uint32_t*>(&d);
  } else {
    return sub2<T>(biased_pair<Bits>(word, i, std::is_same_v<T, __half> ? kFp16Magic : kBf16Magic), bz);
  }
}

/// The magic the zero points are biased with for T and Bits (see dequant_pair).
template <Half16 T, int Bits>
inline constexpr std::uint16_t kPairMagic = std::is_same_v<T, __nv_bfloat16> && Bits == 4 ? kBf16Magic : kFp16Magic;

/// c += a · b: mma.sync m16n8k16, row-major A (4 registers), column-major B (2), float32 C (4).
template <Half16 T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

/// f(i, s, e) for every accumulator of a lane: m16 tile i, n8 subtile s, register c_e (rows g, g + 8 for e / 2,
/// column 2t + e % 2), unrolled.
template <int Mt, class F>
__device__ __forceinline__ void for_each_accumulator(F&& f) {
#pragma unroll
  for (int i = 0; i < Mt; ++i)
#pragma unroll
    for (int s = 0; s < 8; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) f(i, s, e);
}

inline constexpr int kMmaSmemPad = 8;  // halves of padding per staged x row: the A-fragment reads spread over banks

}  // namespace detail

/// How one product is split: `splits` slices of `tiles_per_split` k16 steps (a multiple of Tile::K) along k, and
/// the float32 workspace the partials need (0 when splits = 1).
struct MmaPlan {
  int splits = 1;
  std::int64_t tiles_per_split = 0;
  std::size_t workspace_floats = 0;
};

template <class Cfg, Half16 T>
__global__ void __launch_bounds__(Cfg::TileShape::N / 64 * 32)
    mma_wa16_kernel(const T* __restrict__ x, int m, FragmentView w, std::int64_t tiles_per_split,
                    float* __restrict__ partial, T* __restrict__ y) {
  constexpr int kBits = Cfg::Scheme::bits, kMt = Cfg::TileShape::M / 16, kSteps = Cfg::TileShape::K;
  constexpr int kWarps = Cfg::TileShape::N / 64, kLd = kSteps * 16 + detail::kMmaSmemPad;
  constexpr int kWordsPerLane = kBits, kP = 16 / kBits;
  static_assert(kBits == 4 || kBits == 8, "the fragment layout holds 4- or 8-bit codes");
  static_assert((kMt == 1 || kMt == 2) && Cfg::TileShape::M % 16 == 0, "16 or 32 rows of x per block");
  static_assert(Cfg::TileShape::N % 64 == 0 && kWarps >= 1 && kWarps <= 8, "one to eight 64-column strips");
  __shared__ __align__(16) T xs[Cfg::TileShape::M][kLd];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const std::int64_t strip = static_cast<std::int64_t>(blockIdx.x) * kWarps + warp;
  const bool active = strip < w.strips();
  const int m0 = static_cast<int>(blockIdx.z) * Cfg::TileShape::M;
  const std::int64_t kt0 = blockIdx.y * tiles_per_split;
  const std::int64_t kt1 = kt0 + tiles_per_split < w.tiles_k() ? kt0 + tiles_per_split : w.tiles_k();
  // k16 steps per group (per channel: all of them). The group is tracked step by step: one division per block,
  // none in the loop.
  const std::int64_t tiles_per_group = w.groups() == 1 ? w.tiles_k() : w.group / kFragmentTileK;
  std::int64_t gi = kt0 / tiles_per_group, group_end = (gi + 1) * tiles_per_group;
  bool zeros_loaded = false;

  float acc[kMt][8][4], total[kMt][8][4];
  detail::for_each_accumulator<kMt>([&](int i, int s, int e) { acc[i][s][e] = total[i][s][e] = 0.0f; });

  std::uint32_t bz[8];  // the lane's biased zero points (magic + z in both halves), one per subtile
  const std::uint32_t* tiles = w.tiles + strip * w.tiles_k() * w.tile_words() + lane * kWordsPerLane;

  for (std::int64_t c0 = kt0; c0 < kt1; c0 += kSteps) {
    // Stage x rows m0.. and logical rows c0 * 16 .. (through perm) in shared memory; zeros beyond m and k.
    __syncthreads();
    for (int i = threadIdx.x; i < Cfg::TileShape::M * kSteps * 16; i += blockDim.x) {
      const int r = i / (kSteps * 16), col = i % (kSteps * 16);
      const std::int64_t kp = c0 * 16 + col;
      T v = from_f32<T>(0.0f);
      if (m0 + r < m && kp < w.k) v = x[static_cast<std::int64_t>(m0 + r) * w.k + (w.perm != nullptr ? w.perm[kp] : kp)];
      xs[r][col] = v;
    }
    __syncthreads();
    if (!active) continue;
    for (int step = 0; step < kSteps && c0 + step < kt1; ++step) {
      const std::int64_t kt = c0 + step;
      if (!zeros_loaded) {  // the lane's 8 zero points: one 8-byte read per group
        zeros_loaded = true;
        const std::int64_t at = (strip * w.groups() + gi) * kFragmentTileN + g * 8;
        std::uint8_t z[8];
        if (w.zeros != nullptr) *reinterpret_cast<uint2*>(z) = __ldg(reinterpret_cast<const uint2*>(w.zeros + at));
#pragma unroll
        for (int s = 0; s < 8; ++s) {
          const std::uint32_t zs = w.zeros != nullptr ? z[s] : 1u << (kBits - 1);
          bz[s] = (detail::kPairMagic<T, kBits> + zs) * 0x00010001u;
        }
      }
      std::uint32_t words[kWordsPerLane];
#pragma unroll
      for (int v = 0; v < kWordsPerLane / 4; ++v)  // 16-byte streaming loads: read once, evict first from L2
        *reinterpret_cast<uint4*>(words + 4 * v) = __ldcs(reinterpret_cast<const uint4*>(tiles + kt * w.tile_words()) + v);
#pragma unroll
      for (int i = 0; i < kMt; ++i) {
        // A fragment: rows g and g + 8 of this m16 tile, k columns 2t, 2t+1 and 2t+8, 2t+9 of the step.
        const T* r0 = &xs[i * 16 + g][step * 16 + 2 * t];
        const T* r1 = &xs[i * 16 + g + 8][step * 16 + 2 * t];
        const std::uint32_t a[4] = {*reinterpret_cast<const std::uint32_t*>(r0), *reinterpret_cast<const std::uint32_t*>(r1),
                                    *reinterpret_cast<const std::uint32_t*>(r0 + 8),
                                    *reinterpret_cast<const std::uint32_t*>(r1 + 8)};
#pragma unroll
        for (int s = 0; s < 8; ++s) {  // pairs 2s (b0, b1) and 2s + 1 (b2, b3): word p / P, pair p % P
          const std::uint32_t b0 = detail::dequant_pair<T, kBits>(words[(2 * s) / kP], (2 * s) % kP, bz[s]);
          const std::uint32_t b1 = detail::dequant_pair<T, kBits>(words[(2 * s + 1) / kP], (2 * s + 1) % kP, bz[s]);
          detail::mma_16816<T>(acc[i][s], a, b0, b1);
        }
      }
      if (kt + 1 == group_end || kt + 1 == kt1) {  // the group (or this split's part of it) ends
        const std::int64_t at = (strip * w.groups() + gi) * kFragmentTileN + t * 16;  // [t][s][j]: 32 bytes
        std::uint16_t sc[16];
        *reinterpret_cast<uint4*>(sc) = __ldg(reinterpret_cast<const uint4*>(w.scales + at));
        *reinterpret_cast<uint4*>(sc + 8) = __ldg(reinterpret_cast<const uint4*>(w.scales + at) + 1);
        detail::for_each_accumulator<kMt>([&](int i, int s, int e) {
          total[i][s][e] += __half2float(__ushort_as_half(sc[s * 2 + e % 2])) * acc[i][s][e];
          acc[i][s][e] = 0.0f;
        });
        ++gi;
        group_end += tiles_per_group;
        zeros_loaded = false;
      }
    }
  }
  if (!active) return;
  // C fragment: rows g (c0, c1) and g + 8 (c2, c3), columns 2t, 2t + 1 of each subtile.
  detail::for_each_accumulator<kMt>([&](int i, int s, int e) {
    const int row = m0 + i * 16 + g + 8 * (e / 2);
    const std::int64_t col = strip * kFragmentTileN + 8 * s + 2 * t + e % 2;
    if (row >= m || col >= w.n) return;
    if (partial != nullptr) partial[(static_cast<std::int64_t>(blockIdx.y) * m + row) * w.n + col] = total[i][s][e];
    else y[static_cast<std::int64_t>(row) * w.n + col] = from_f32<T>(total[i][s][e]);
  });
}

/// y = the sum of the splits' partials, in split order (the same bits on every run).
template <Half16 T>
__global__ void mma_wa16_reduce(const float* __restrict__ partial, int splits, std::int64_t count, T* __restrict__ y) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float sum = 0.0f;
  for (int s = 0; s < splits; ++s) sum += partial[s * count + i];
  y[i] = from_f32<T>(sum);
}

/// Whether mma_wa16<Cfg> accepts this product.
template <class Cfg>
bool mma_wa16_supports(int m, const FragmentView& w) {
  using S = typename Cfg::Scheme;
  return m >= 1 && w.bits == S::bits && fragment_supported(w.bits, w.group, w.k) &&
         (S::group_size == kPerChannel ? w.groups() == 1 : w.group == S::group_size);
}

/// Splits along k so that about two blocks per SM run (`sms`: the device's multiprocessor count), each slice at least
/// 4 k16 steps and a whole number of Tile::K.
template <class Cfg>
MmaPlan mma_wa16_plan(int m, const FragmentView& w, int sms) {
  constexpr int kSteps = Cfg::TileShape::K;
  const std::int64_t blocks = static_cast<std::int64_t>(blocks_for(w.strips(), Cfg::TileShape::N / 64)) *
                              blocks_for(m, Cfg::TileShape::M);
  const std::int64_t most = std::max<std::int64_t>(1, w.tiles_k() / std::max(4, kSteps));
  const std::int64_t want = std::clamp<std::int64_t>((2 * sms + blocks - 1) / blocks, 1, most);
  MmaPlan p;
  p.tiles_per_split = (w.tiles_k() + want - 1) / want;
  p.tiles_per_split = (p.tiles_per_split + kSteps - 1) / kSteps * kSteps;
  p.splits = static_cast<int>((w.tiles_k() + p.tiles_per_split - 1) / p.tiles_per_split);
  p.workspace_floats = p.splits > 1 ? static_cast<std::size_t>(p.splits) * m * w.n : 0;
  return p;
}

/// Launches y (m, n) = x (m, k) · W^T on `stream` as `plan` says; `workspace` holds plan.workspace_floats floats.
template <class Cfg, Half16 T>
cudaError_t mma_wa16(const T* x, int m, const FragmentView& w, T* y, const MmaPlan& plan, float* workspace,
                     cudaStream_t stream = nullptr) {
  if (!mma_wa16_supports<Cfg>(m, w) || plan.splits < 1 || (plan.splits > 1 && workspace == nullptr) ||
      static_cast<std::int64_t>(plan.splits) * plan.tiles_per_split < w.tiles_k())
    return cudaErrorInvalidValue;
  const dim3 grid(blocks_for(w.strips(), Cfg::TileShape::N / 64), static_cast<unsigned>(plan.splits),
                  blocks_for(m, Cfg::TileShape::M));
  mma_wa16_kernel<Cfg, T><<<grid, Cfg::TileShape::N / 64 * 32, 0, stream>>>(
      x, m, w, plan.tiles_per_split, plan.splits > 1 ? workspace : nullptr, y);
  if (plan.splits > 1) {
    const std::int64_t count = static_cast<std::int64_t>(m) * w.n;
    mma_wa16_reduce<T><<<blocks_for(count, 256), 256, 0, stream>>>(workspace, plan.splits, count, y);
  }
  return cudaGetLastError();
}

}  // namespace ptq::cuda
