/// @file GPTQ (Frantar et al. 2022) for one linear layer, following IST-DASLab/gptq `GPTQ.fasterquant`.
///
///   H = 2/n Σ x x^T over calibration inputs x (K);  dead inputs (H_ii = 0): H_ii = 1, W[:, i] = 0
///   act-order: columns by decreasing H_ii;  H += damp · mean(diag H) · I  (raised by 0.01 · mean(diag H)
///   with a warning while the Cholesky factorization fails);  Hinv = the upper Cholesky factor of H^-1 (the
///   reference: chol(chol_inverse(chol(H)), upper); here one factorization and a triangular inverse, lapack.hpp)
///   columns in blocks of `block_size`: q = Q(w), err = (w - q) / Hinv_ii, later columns of the block -= err ⊗
///   Hinv_i,(i..];  after the block the remaining columns -= Err · Hinv[block, rest]
///   groups: the grid of a group is found when its first column is reached, on the already-updated weights
///   (static_groups: on the original weights, before any update), as the reference does.
/// Differences from the reference, on purpose: scales are rounded to fp16 before the codes (see quantizer.hpp).
#pragma once

#include "ptq/core/fields.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/kernels/ref/lapack.hpp"
#include "ptq/quant/gptq_params.hpp"
#include "ptq/quant/packed.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

namespace ptq {

/// Accumulates H = 2/n Σ x x^T (K, K) from calibration inputs, as `add_batch` does (float32).
class Hessian {
 public:
  explicit Hessian(std::int64_t k) : k_(k), h_(static_cast<std::size_t>(k * k), 0.0f) {}
  /// Adds m input rows x (m, K). Keeps H = 2/n Σ x x^T for the n rows seen so far. The lower triangle is
  /// computed in blocks of rows, one single-threaded product each, spread over threads: bitwise the same for
  /// any thread count (a threaded syrk may split the sum over rows and round differently).
  void add(const float* x, std::int64_t m) {
    if (m == 0) return;
    const float keep = static_cast<float>(n_) / static_cast<float>(n_ + m);
    n_ += m;
    const float alpha = 2.0f / static_cast<float>(n_);
    constexpr std::int64_t kRows = 64;
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t r0 = 0; r0 < k_; r0 += kRows) {
      const std::int64_t rows = std::min(kRows, k_ - r0);
      // H[r0:r0+rows, 0:r0+rows] = keep * H + alpha * X[:, r0:r0+rows]^T X[:, 0:r0+rows]
      ref::sgemm(true, false, rows, r0 + rows, m, alpha, x + r0, k_, x, k_, keep, h_.data() + r0 * k_, k_);
    }
  }
  [[nodiscard]] std::int64_t k() const { return k_; }
  [[nodiscard]] std::int64_t samples() const { return n_; }
  /// The full symmetric matrix (only the lower triangle is accumulated).
  [[nodiscard]] std::vector<float> matrix() const {
    std::vector<float> h = h_;
    for (std::int64_t i = 0; i < k_; ++i)
      for (std::int64_t j = i + 1; j < k_; ++j) h[i * k_ + j] = h[j * k_ + i];
    return h;
  }

 private:
  std::int64_t k_, n_ = 0;
  std::vector<float> h_;
};

struct GptqResult {
  PackedWeight weight;
  double loss = 0;           // Σ (w - q)^2 / Hinv_ii^2 / 2, as the reference reports
  float damp_used = 0;       // the damping fraction that made H positive definite
};

/// What gptq_quantize records, when asked, about its rounding decisions. Another implementation's codes can be
/// reproduced only away from ties: two float32 summation orders (two BLAS kernels) move the updated weights by
/// about 1e-6 relative and flip a code whose w'/scale lies that close to a rounding midpoint; after a flip, GPTQ's
/// error feedback takes that row on its own, equally good, path (tests/quant/test_quant.cpp counts such rows).
struct GptqTrace {
  std::vector<std::int64_t> order;  // (K): the columns in quantization order (act-order's permutation)
  std::vector<float> tie_margin;    // (N, K): tie_margin(w', grid) of each code when it was chosen, in grid steps
};

/// Quantizes W (N, K) row-major float32 with GPTQ given its input Hessian H (K, K); fills `trace` when given.
inline GptqResult gptq_quantize(std::vector<float> w, std::int64_t n, std::int64_t k, std::vector<float> h,
                                const QuantSpec& spec, const GptqParams& prm, const std::string& name = "",
                                GptqTrace* trace = nullptr) {
  validate(spec, name);
  check(static_cast<std::int64_t>(w.size()) == n * k && static_cast<std::int64_t>(h.size()) == k * k, name, "gptq",
        "shapes: W has {} values for ({}, {}), H has {}", w.size(), n, k, h.size());
  for (float v : h) check(std::isfinite(v), name, "gptq", "the Hessian has a non-finite entry (NaN/Inf in the calibration activations?)");
  const std::int64_t gs = spec.group(k);
  const int maxq = spec.maxq();

  // Work on W^T (K, N): column i of W is row i here, contiguous.
  std::vector<float> wt(static_cast<std::size_t>(k * n));
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < k; ++c) wt[c * n + r] = w[r * k + c];

  for (std::int64_t i = 0; i < k; ++i)
    if (h[i * k + i] == 0) {  // dead input: never active in calibration
      h[i * k + i] = 1;
      std::fill_n(wt.begin() + i * n, n, 0.0f);
    }

  std::vector<std::int64_t> perm(static_cast<std::size_t>(k));
  std::iota(perm.begin(), perm.end(), 0);
  std::vector<GroupParams> static_params;  // (groups, n) when static_groups
  if (prm.static_groups && spec.group_size != kPerChannel) {
    for (std::int64_t g = 0; g * gs < k; ++g)
      for (std::int64_t r = 0; r < n; ++r) {
        std::vector<float> grp;
        for (std::int64_t c = g * gs; c < std::min(k, (g + 1) * gs); ++c) grp.push_back(wt[c * n + r]);
        static_params.push_back(find_params(grp, spec, Grid::kGptq));
      }
  }
  if (prm.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](std::int64_t a, std::int64_t b) { return h[a * k + a] > h[b * k + b]; });
    std::vector<float> wp(wt.size()), hp(h.size());
    for (std::int64_t i = 0; i < k; ++i) {
      std::copy_n(wt.begin() + perm[i] * n, n, wp.begin() + i * n);
      for (std::int64_t j = 0; j < k; ++j) hp[i * k + j] = h[perm[i] * k + perm[j]];
    }
    wt = std::move(wp);
    h = std::move(hp);
  }

  // Damped Cholesky inverse, upper factor. Retry with more damping if H is not positive definite.
  double mean_diag = 0;
  for (std::int64_t i = 0; i < k; ++i) mean_diag += h[i * k + i];
  mean_diag /= static_cast<double>(k);
  std::vector<float> hinv;
  float damp = prm.damp;
  for (int attempt = 0;; ++attempt) {
    hinv = h;
    for (std::int64_t i = 0; i < k; ++i) hinv[i * k + i] += static_cast<float>(damp * mean_diag);
    const bool ok = ref::inverse_cholesky_upper(hinv.data(), static_cast<int>(k)) == 0;
    if (ok) break;
    check(attempt < 100, name, "gptq", "the Hessian is not positive definite even with damping {:.2f}", damp);
    damp += 0.01f;  // GPTQModel's damp_auto_increment
  }
  if (damp != prm.damp)
    fmt::print(stderr, "ptq gptq: warning: {}: Cholesky failed with damping {:.2f}; raised to {:.2f}\n", name, prm.damp,
               damp);

  GptqResult res{PackedWeight::empty(spec, n, k), 0.0, damp};
  if (trace) *trace = {perm, std::vector<float>(static_cast<std::size_t>(n * k))};
  const bool fixed_grid = prm.static_groups && spec.group_size != kPerChannel;
  if (fixed_grid)
    for (std::int64_t g = 0; g < res.weight.groups(); ++g)
      for (std::int64_t r = 0; r < n; ++r) res.weight.set_params(r, g, static_params[g * n + r]);
  if (prm.act_order && !fixed_grid) res.weight.g_idx.assign(static_cast<std::size_t>(k), 0);
  std::vector<GroupParams> current(static_cast<std::size_t>(n));
  std::vector<float> err, grp;
  for (std::int64_t i1 = 0; i1 < k; i1 += prm.block_size) {
    const std::int64_t i2 = std::min(k, i1 + prm.block_size), count = i2 - i1;
    // In-block updates go to a copy (the reference's W1); group grids read the outer W as it stands.
    std::vector<float> w1(wt.begin() + i1 * n, wt.begin() + i2 * n);
    err.assign(static_cast<std::size_t>(count * n), 0.0f);
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t c = i1 + i;  // position in quantization order
      const std::int64_t orig = perm[c];
      const float d = hinv[c * k + c];
      if (!fixed_grid && c % gs == 0) {  // a new group starts: its grid, on the weights as updated so far
        const std::int64_t span = std::min(gs, k - c);
        grp.resize(static_cast<std::size_t>(span));
        for (std::int64_t r = 0; r < n; ++r) {
          for (std::int64_t j = 0; j < span; ++j) grp[j] = wt[(c + j) * n + r];
          current[r] = find_params(grp, spec, Grid::kGptq);
          res.weight.set_params(r, c / gs, current[r]);
        }
      }
      if (!res.weight.g_idx.empty()) res.weight.g_idx[orig] = static_cast<std::int32_t>(c / gs);
      float* wi = w1.data() + i * n;
      for (std::int64_t r = 0; r < n; ++r) {
        const GroupParams& p = fixed_grid ? static_params[(orig / gs) * n + r] : current[r];
        const int q = quantize_code(wi[r], p, maxq);
        res.weight.set_code(r, orig, q);
        if (trace) trace->tie_margin[static_cast<std::size_t>(r * k + orig)] = tie_margin(wi[r], p);
        const float e = (wi[r] - dequantize_code(q, p)) / d;
        res.loss += 0.5 * static_cast<double>(e) * e;
        err[i * n + r] = e;
      }
      for (std::int64_t j = i + 1; j < count; ++j) {  // later columns of the block
        const float hij = hinv[c * k + (i1 + j)];
        float* wj = w1.data() + j * n;
        const float* ei = err.data() + i * n;
        for (std::int64_t r = 0; r < n; ++r) wj[r] -= ei[r] * hij;
      }
    }
    std::copy(w1.begin(), w1.end(), wt.begin() + i1 * n);
    if (i2 < k)  // W^T[i2:, :] -= Hinv[i1:i2, i2:]^T · Err (count, n)
      ref::sgemm(true, false, k - i2, n, count, -1.0f, hinv.data() + i1 * k + i2, k, err.data(), n, 1.0f,
                 wt.data() + i2 * n, n);
  }
  return res;
}

}  // namespace ptq
