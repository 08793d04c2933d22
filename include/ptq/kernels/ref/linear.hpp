/// @file Dense linear layers on the CPU: y (M, N) = x (M, K) · W (N, K)^T + b, W in its stored dtype.
///
/// W stays as stored (BF16/F16/F32) or packed. One panel of its rows at a time is brought into the product's form
/// in a per-thread scratch that stays in cache and multiplied single-threaded; panels are spread over OpenMP
/// threads. Panel boundaries depend only on the shapes, never on the thread count, so results are bitwise
/// identical for any number of threads. The product (kernels/ref/matmul_path.hpp): float32 (panels converted to
/// float32, OpenBLAS sgemm) or bf16 (x rounded to bf16 once, panels as bf16 — stored bf16 rows used in place —,
/// oneDNN's bf16 product with float32 sums, or its emulation).
#pragma once

#include "ptq/core/tensor.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/kernels/ref/matmul_path.hpp"

#include <omp.h>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>

namespace ptq::ref {

/// Rows of W per panel: the converted panel is about 1 MiB (L2-sized), in multiples of 16 rows.
inline std::int64_t panel_rows(std::int64_t n, std::int64_t k) {
  const std::int64_t rows = std::clamp<std::int64_t>((std::int64_t{1} << 18) / std::max<std::int64_t>(k, 1), 16, 1024);
  return std::min(n, rows / 16 * 16);
}

/// A weight matrix (N, K) that the panel loop can read: stored float rows (F32/F16/BF16), or any
/// source with n(), k(), direct() (float32 rows usable in place, or nullptr) and
/// load(row0, rows, out) (float32 rows (rows, K)), e.g. a PackedWeight dequantizing on the fly.
template <class W>
concept WeightRows = requires(const W& w, float* out) {
  { w.n() } -> std::convertible_to<std::int64_t>;
  { w.k() } -> std::convertible_to<std::int64_t>;
  { w.direct() } -> std::convertible_to<const float*>;
  w.load(std::int64_t{}, std::int64_t{}, out);
};

/// Stored float rows of a TensorRef.
struct StoredRows {
  const TensorRef& t;
  [[nodiscard]] std::int64_t n() const { return t.shape[0]; }
  [[nodiscard]] std::int64_t k() const { return t.shape[1]; }
  [[nodiscard]] const float* direct() const {
    const bool aligned = reinterpret_cast<std::uintptr_t>(t.data) % alignof(float) == 0;
    return t.dtype == DType::kF32 && aligned ? reinterpret_cast<const float*>(t.data) : nullptr;
  }
  /// The stored bf16 rows, usable in place by the bf16 product, or nullptr.
  [[nodiscard]] const bf16* direct_bf16() const {
    const bool aligned = reinterpret_cast<std::uintptr_t>(t.data) % alignof(bf16) == 0;
    return t.dtype == DType::kBF16 && aligned ? reinterpret_cast<const bf16*>(t.data) : nullptr;
  }
  void load(std::int64_t row0, std::int64_t rows, float* out) const {
    to_float(t, row0 * k(), {out, static_cast<std::size_t>(rows * k())});
  }
};

namespace detail {

/// W's stored bf16 rows when it has them (StoredRows of a BF16 tensor), else nullptr (packed, F32, F16).
template <WeightRows W>
const bf16* direct_bf16(const W& w) {
  if constexpr (requires { { w.direct_bf16() } -> std::convertible_to<const bf16*>; }) return w.direct_bf16();
  return nullptr;
}

/// panel_products on the bf16 path: x rounded to bf16 once, each panel's rows as bf16, float32 sums. Natively
/// (oneDNN) the operands are bf16; emulated they are the same values widened to float32 (exact), so the two differ
/// only in summation order.
template <WeightRows W, class OnBlock>
void bf16_panel_products(const float* x, std::int64_t m, const W& w, std::int64_t nb, OnBlock& on_block) {
  const std::int64_t n = w.n(), k = w.k(), panels = (n + nb - 1) / nb;
  const bool native = onednn::native_bf16();
  const bf16* direct = direct_bf16(w);
  Buffer<bf16> xb(native ? static_cast<std::size_t>(m * k) : 0);
  Buffer<float> xf(native ? 0 : static_cast<std::size_t>(m * k));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < m * k; ++i) {
    if (native) xb.data()[i] = to_bf16(x[i]);
    else xf.data()[i] = to_float(to_bf16(x[i]));
  }
#pragma omp parallel
  {
    Buffer<float> wf(native && direct ? 0 : static_cast<std::size_t>(nb * k));
    Buffer<bf16> wb(native && !direct ? static_cast<std::size_t>(nb * k) : 0);
    Buffer<float> out(static_cast<std::size_t>(m * nb));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t p = 0; p < panels; ++p) {
      const std::int64_t row0 = p * nb, rows = std::min(nb, n - row0), count = rows * k;
      if (native) {
        const bf16* wp = direct ? direct + row0 * k : wb.data();
        if (!direct) {
          w.load(row0, rows, wf.data());
          for (std::int64_t i = 0; i < count; ++i) wb.data()[i] = to_bf16(wf.data()[i]);
        }
        onednn::gemm_nt(m, rows, k, xb.data(), k, wp, k, out.data(), rows);
      } else {
        w.load(row0, rows, wf.data());  // stored bf16 rows load exactly; others are rounded here
        if (!direct)
          for (std::int64_t i = 0; i < count; ++i) wf.data()[i] = to_float(to_bf16(wf.data()[i]));
        gemm_nt(m, rows, k, 1.0f, xf.data(), k, wf.data(), k, 0.0f, out.data(), rows);
      }
      on_block(row0, rows, static_cast<const float*>(out.data()));
    }
  }
}

}  // namespace detail

/// Computes x (M, K) · W (N, K)^T one panel of W's rows at a time and hands each block of results to
/// `on_block(row0, rows, block)` where block is (M, rows) row-major, scratch valid during the call.
/// Calls run concurrently on different panels.
template <WeightRows W, class OnBlock>
void panel_products(const float* x, std::int64_t m, const W& w, OnBlock&& on_block) {
  const std::int64_t n = w.n(), k = w.k();
  const std::int64_t nb = panel_rows(n, k);
  const std::int64_t panels = (n + nb - 1) / nb;
  if (matmul_path() == MatmulPath::kBf16) {
    detail::bf16_panel_products(x, m, w, nb, on_block);
    return;
  }
  const float* direct = w.direct();
#pragma omp parallel
  {
    Buffer<float> wbuf(direct ? 0 : static_cast<std::size_t>(nb * k));
    Buffer<float> out(static_cast<std::size_t>(m * nb));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t p = 0; p < panels; ++p) {
      const std::int64_t row0 = p * nb, rows = std::min(nb, n - row0);
      const float* wp = direct ? direct + row0 * k : wbuf.data();
      if (!direct) w.load(row0, rows, wbuf.data());
      gemm_nt(m, rows, k, 1.0f, x, k, wp, k, 0.0f, out.data(), rows);
      on_block(row0, rows, static_cast<const float*>(out.data()));
    }
  }
}

template <class OnBlock>
void panel_products(const float* x, std::int64_t m, const TensorRef& w, OnBlock&& on_block) {
  check(w.shape.size() == 2, "", w.name, "expected a matrix, got shape {}", shape_str(w.shape));
  panel_products(x, m, StoredRows{w}, std::forward<OnBlock>(on_block));
}

/// y (M, N) = x (M, K) · W (N, K)^T (+ bias (N) when non-empty).
template <class W>
void linear(const float* x, std::int64_t m, const W& w, std::span<const float> bias, float* y) {
  std::int64_t n = 0;
  if constexpr (std::is_same_v<W, TensorRef>) n = w.shape.at(0); else n = w.n();
  panel_products(x, m, w, [&](std::int64_t row0, std::int64_t rows, const float* block) {
    for (std::int64_t i = 0; i < m; ++i) {
      float* dst = y + i * n + row0;
      const float* src = block + i * rows;
      if (bias.empty()) {
        std::copy_n(src, rows, dst);
      } else {
        for (std::int64_t j = 0; j < rows; ++j) dst[j] = src[j] + bias[row0 + j];
      }
    }
  });
}

}  // namespace ptq::ref
