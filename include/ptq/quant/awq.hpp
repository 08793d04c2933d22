/// @file AWQ (Lin et al. 2023) building blocks, following AutoAWQ `AwqQuantizer` (awq/quantize/quantizer.py).
///
/// Scale search, for a group of linears sharing one input x (K) and one preceding op:
///   x_mean = mean |x| per input channel over every calibration token                       (K)
///   w_mean = mean over the group's rows of |W| / (max |W| of its quantization group + 1e-6)  (K)
///   for r = i / n_grid, i = 0..n_grid-1:
///     s = clamp(x_mean^r / (w_mean^(1-r) + 1e-4), min 1e-4)      (duo scaling; plain: x_mean^r)
///     s /= sqrt(max s · min s);  inf/nan -> 1
///     W <- Q(W · diag s) · diag(s)^-1 for every linear of the group; run the inspected module
///     loss = Σ (y_fp - y_q)^2 / numel                                       keep the smallest loss
///   The best s is folded: the preceding op's output channels (RMSNorm weight or linear rows and bias) are divided
///   by s, the group's input columns multiplied by s: the full-precision function is unchanged.
/// Clip search (`_compute_best_clip`), per linear except q/k: for each output row and group,
///   max_val = max |w| · (1 - i / clip_grid), i < max_shrink · clip_grid, weights clamped to [-max_val, max_val],
///   err = mean over sampled tokens (every max(1, n / clip_tokens)-th) of (x·Q(w_c) - x·w)^2; keep the argmin.
/// Q is AutoAWQ's grid (Grid::kAwq, quantizer.hpp) with the scale rounded to fp16.
/// Differences from AutoAWQ, on purpose: activations and losses are float32/float64 rather than fp16; the
/// search restores the original weights by copy (AutoAWQ's `.cpu()` snapshot aliases the weights on a CPU,
/// so on a CPU its later grid points start from already-scaled weights).
#pragma once

#include "ptq/core/fields.hpp"
#include "ptq/core/parallel.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/quant/awq_params.hpp"
#include "ptq/quant/packed.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace ptq {

/// A float32 weight (N, K) row-major being transformed (scaled, clipped) before it is packed.
struct DenseWeight {
  std::int64_t n = 0, k = 0;
  std::vector<float> w;
  [[nodiscard]] float* row(std::int64_t r) { return w.data() + r * k; }
  [[nodiscard]] const float* row(std::int64_t r) const { return w.data() + r * k; }
};

/// W <- dequantize(quantize(W)) in place, group by group.
inline void fake_quantize(std::span<float> w, std::int64_t n, std::int64_t k, const QuantSpec& spec, Grid grid) {
  const std::int64_t gs = spec.group(k);
#pragma omp parallel for
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c0 = 0; c0 < k; c0 += gs) {
      const auto g = w.subspan(static_cast<std::size_t>(r * k + c0), static_cast<std::size_t>(std::min(gs, k - c0)));
      const GroupParams p = find_params(g, spec, grid);
      for (float& v : g) v = dequantize_code(quantize_code(v, p, spec.maxq()), p);
    }
}

/// Mean |x| per channel over the rows of every sample (each (rows, K)).
inline std::vector<float> awq_x_mean(std::span<const std::vector<float>> samples, std::int64_t k) {
  std::vector<double> sum(static_cast<std::size_t>(k), 0.0);
  std::int64_t rows = 0;
  for (const auto& x : samples) {
    const auto m = static_cast<std::int64_t>(x.size()) / k;
    for (std::int64_t t = 0; t < m; ++t)
      for (std::int64_t c = 0; c < k; ++c) sum[c] += std::fabs(x[t * k + c]);
    rows += m;
  }
  std::vector<float> mean(sum.size());
  for (std::size_t c = 0; c < sum.size(); ++c) mean[c] = static_cast<float>(sum[c] / static_cast<double>(rows));
  return mean;
}

/// Mean over all rows of the group's weights of |w| / (max |w| in its quantization group + 1e-6), per channel.
inline std::vector<float> awq_w_mean(std::span<const DenseWeight* const> ws, std::int64_t group) {
  const std::int64_t k = ws.front()->k;
  std::vector<double> sum(static_cast<std::size_t>(k), 0.0);
  std::int64_t rows = 0;
  for (const DenseWeight* w : ws) {
    for (std::int64_t r = 0; r < w->n; ++r) {
      const float* row = w->row(r);
      for (std::int64_t c0 = 0; c0 < k; c0 += group) {
        const std::int64_t c1 = std::min(k, c0 + group);
        float amax = 0;
        for (std::int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(row[c]));
        for (std::int64_t c = c0; c < c1; ++c) sum[c] += std::fabs(row[c]) / (amax + 1e-6f);
      }
    }
    rows += w->n;
  }
  std::vector<float> mean(sum.size());
  for (std::size_t c = 0; c < sum.size(); ++c) mean[c] = static_cast<float>(sum[c] / static_cast<double>(rows));
  return mean;
}

struct AwqScaleResult {
  std::vector<float> scales;  // (K)
  float ratio = 0;            // the best r
  double loss = 0;            // its loss; the loss at each grid point in `history`
  std::vector<double> history;
};

/// Searches the scales of `group` (linears sharing an input of K channels; modified during the search and
/// restored). `run(out)` runs the inspected module over every calibration sample with the current weights and
/// writes its outputs, concatenated, to `out` (resized by the callee). `what` names the group in errors.
inline AwqScaleResult awq_search_scale(std::span<DenseWeight* const> group, std::span<const float> x_mean,
                                       const QuantSpec& spec, const AwqParams& params,
                                       const std::function<void(std::vector<float>&)>& run, const std::string& what) {
  const std::int64_t k = group.front()->k;
  std::vector<const DenseWeight*> cgroup(group.begin(), group.end());
  const std::vector<float> w_mean = awq_w_mean(cgroup, spec.group(k));
  std::vector<std::vector<float>> original;
  for (const DenseWeight* w : group) original.push_back(w->w);
  std::vector<float> reference, out;
  run(reference);

  AwqScaleResult best;
  best.loss = std::numeric_limits<double>::infinity();
  for (int i = 0; i < params.n_grid; ++i) {
    const float r = static_cast<float>(i) / static_cast<float>(params.n_grid);
    std::vector<float> s = awq_candidate_scales(x_mean, w_mean, r, params.duo_scaling);
    for (DenseWeight* w : group) {
      for (std::int64_t row = 0; row < w->n; ++row)
        for (std::int64_t c = 0; c < k; ++c) w->row(row)[c] *= s[c];
      fake_quantize(w->w, w->n, k, spec, Grid::kAwq);
      for (std::int64_t row = 0; row < w->n; ++row)
        for (std::int64_t c = 0; c < k; ++c) w->row(row)[c] /= s[c];
    }
    run(out);
    double loss = 0;
    for (std::size_t j = 0; j < out.size(); ++j) {
      const double d = static_cast<double>(reference[j]) - out[j];
      loss += d * d;
    }
    loss /= static_cast<double>(out.size());
    best.history.push_back(loss);
    if (loss < best.loss) {
      best.loss = loss;
      best.ratio = r;
      best.scales = std::move(s);
    }
    for (std::size_t j = 0; j < group.size(); ++j)  // in place: `run` reads through views of these buffers
      std::copy(original[j].begin(), original[j].end(), group[j]->w.begin());
  }
  check(!best.scales.empty(), "", what, "AWQ scale search: the loss is not finite at any grid point (NaN or Inf in "
        "the calibration activations?)");
  return best;
}

/// Every step-th row (step = max(1, rows / tokens)) of the concatenated samples, as (T, K).
inline std::vector<float> awq_sample_tokens(std::span<const std::vector<float>> samples, std::int64_t k, int tokens) {
  std::int64_t rows = 0;
  for (const auto& x : samples) rows += static_cast<std::int64_t>(x.size()) / k;
  const std::int64_t step = std::max<std::int64_t>(1, rows / tokens);
  std::vector<float> out;
  std::int64_t global = 0;
  for (const auto& x : samples)
    for (std::int64_t t = 0; t < static_cast<std::int64_t>(x.size()) / k; ++t, ++global)
      if (global % step == 0) out.insert(out.end(), x.begin() + t * k, x.begin() + (t + 1) * k);
  return out;
}

/// The clip search for one linear, applied in place: clamps each (row, group) of W to its best
/// [-max_val, max_val] for inputs x (T, K). Returns the chosen max_val per (row, group).
inline std::vector<float> awq_clip(DenseWeight& w, std::span<const float> x, const QuantSpec& spec,
                                   const AwqParams& params) {
  const std::int64_t k = w.k, n = w.n, gs = spec.group(k), ng = (k + gs - 1) / gs;
  const auto t_len = static_cast<std::int64_t>(x.size()) / k;
  const int shrinks = static_cast<int>(params.max_shrink * static_cast<float>(params.clip_grid));
  std::vector<float> best_max(static_cast<std::size_t>(n * ng));
  // One task per group: org = X_g W_g^T and, per shrink step, X_g Q(clamp(W_g))^T, all (T, N).
  parallel_tasks(ng, [&](std::int64_t g) {
    const std::int64_t c0 = g * gs, width = std::min(gs, k - c0);
    std::vector<float> xg(static_cast<std::size_t>(t_len * width)), wg(static_cast<std::size_t>(n * width));
    for (std::int64_t t = 0; t < t_len; ++t) std::copy_n(x.data() + t * k + c0, width, xg.data() + t * width);
    for (std::int64_t r = 0; r < n; ++r) std::copy_n(w.row(r) + c0, width, wg.data() + r * width);
    std::vector<float> org(static_cast<std::size_t>(t_len * n)), cur(org.size()), qg(wg.size());
    auto product = [&](const std::vector<float>& weights, std::vector<float>& y) {
      ref::gemm_nt(t_len, n, width, 1.0f, xg.data(), width, weights.data(), width, 0.0f, y.data(), n);
    };
    product(wg, org);
    std::vector<float> amax(static_cast<std::size_t>(n)), min_err(static_cast<std::size_t>(n), 1e9f);
    for (std::int64_t r = 0; r < n; ++r) {
      float m = 0;
      for (std::int64_t c = 0; c < width; ++c) m = std::max(m, std::fabs(wg[r * width + c]));
      amax[r] = m;
      best_max[r * ng + g] = m;
    }
    for (int i = 0; i < shrinks; ++i) {
      const float f = 1.0f - static_cast<float>(i) / static_cast<float>(params.clip_grid);
      for (std::int64_t r = 0; r < n; ++r) {
        const float mv = amax[r] * f;
        for (std::int64_t c = 0; c < width; ++c) qg[r * width + c] = std::clamp(wg[r * width + c], -mv, mv);
        const std::span<float> q(qg.data() + r * width, static_cast<std::size_t>(width));
        const GroupParams p = find_params(q, spec, Grid::kAwq);
        for (float& v : q) v = dequantize_code(quantize_code(v, p, spec.maxq()), p);
      }
      product(qg, cur);
      for (std::int64_t r = 0; r < n; ++r) {
        float err = 0;
        for (std::int64_t t = 0; t < t_len; ++t) {
          const float d = cur[t * n + r] - org[t * n + r];
          err += d * d;
        }
        err /= static_cast<float>(t_len);
        if (err < min_err[r]) {
          min_err[r] = err;
          best_max[r * ng + g] = amax[r] * f;
        }
      }
    }
  });
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < k; ++c) {
      const float mv = best_max[r * ng + c / gs];
      w.row(r)[c] = std::clamp(w.row(r)[c], -mv, mv);
    }
  return best_max;
}

}  // namespace ptq
