/// @file Log-probabilities of target tokens straight from hidden states, without a (T, V) logits matrix.
///
/// logprob[t] = logit[t, target[t]] - logsumexp_v logit[t, v], with logit = hidden (T, H) · W (V, H)^T.
/// The vocabulary is walked in panels (see panel_products); each panel leaves a partial (max, sum of
/// exp, argmax, target logit) per row, and the partials are combined in panel order, so the result does
/// not depend on the thread count. Memory: T x panels partials instead of T x V floats.
#pragma once

#include "ptq/core/math.hpp"
#include "ptq/kernels/ref/linear.hpp"
#include "ptq/kernels/score_batch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace ptq::ref {

/// Scores targets[t] after position t for t < T. hidden: (T, H) row-major float32; w: (V, H).
inline void target_logprobs(const float* hidden, std::int64_t t_len, const TensorRef& w,
                            std::span<const std::int32_t> targets, std::span<TokenScore> out) {
  const std::int64_t v = w.shape.at(0);
  const std::int64_t nb = panel_rows(v, w.shape.at(1));
  const std::int64_t panels = (v + nb - 1) / nb;
  struct Partial { float max; double sum; std::int32_t argmax; };
  std::vector<Partial> part(static_cast<std::size_t>(panels * t_len));
  std::vector<float> target_logit(static_cast<std::size_t>(t_len), 0.0f);
  for (std::int64_t t = 0; t < t_len; ++t)
    check(targets[t] >= 0 && targets[t] < v, "", w.name, "target token {} outside the vocabulary of {}", targets[t], v);

  panel_products(hidden, t_len, w, [&](std::int64_t row0, std::int64_t rows, const float* block) {
    const std::int64_t p = row0 / nb;
    for (std::int64_t t = 0; t < t_len; ++t) {
      const float* l = block + t * rows;
      float mx = l[0];
#pragma omp simd reduction(max : mx)
      for (std::int64_t j = 1; j < rows; ++j) mx = std::max(mx, l[j]);
      const std::int64_t best = std::find(l, l + rows, mx) - l;  // first maximum, as torch.argmax
      float sum = 0;  // <= 1024 terms in (0, 1]: float is exact enough and vectorizes
#pragma omp simd reduction(+ : sum)
      for (std::int64_t j = 0; j < rows; ++j) sum += exp_approx(l[j] - mx);
      part[p * t_len + t] = {mx, sum, static_cast<std::int32_t>(row0 + best)};
      const std::int64_t target = targets[t];
      if (target >= row0 && target < row0 + rows) target_logit[t] = l[target - row0];
    }
  });

  for (std::int64_t t = 0; t < t_len; ++t) {
    Partial best = part[t];
    for (std::int64_t p = 1; p < panels; ++p)
      if (part[p * t_len + t].max > best.max) best = part[p * t_len + t];
    double sum = 0;
    for (std::int64_t p = 0; p < panels; ++p)
      sum += part[p * t_len + t].sum * std::exp(static_cast<double>(part[p * t_len + t].max) - best.max);
    const double lse = static_cast<double>(best.max) + std::log(sum);
    out[t] = {static_cast<float>(target_logit[t] - lse), best.argmax == targets[t]};
  }
}

}  // namespace ptq::ref
