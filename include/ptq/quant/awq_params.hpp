/// @file AWQ's parameters and candidate scales, shared by the CPU (quant/awq.hpp) and GPU (quant/cuda/awq.cuh)
/// implementations (plain C++: nvcc compiles it).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace ptq {

struct AwqParams {
  int n_grid = 20;          // scale ratios r = i / n_grid
  bool duo_scaling = true;  // s = x_mean^r / w_mean^(1-r) (AutoAWQ default); false: s = x_mean^r (llm-awq)
  bool clip = true;         // clipping search after scaling (apply_clip)
  int clip_grid = 20;       // shrink steps of 1 / clip_grid
  float max_shrink = 0.5f;  // shrink the range by at most this fraction
  int clip_tokens = 512;    // calibration tokens sampled for the clip search
  static constexpr std::array<std::string_view, 6> field_names{"n_grid",    "duo_scaling", "clip",
                                                               "clip_grid", "max_shrink",  "clip_tokens"};
};

/// The candidate scales for ratio r: s = max(x_mean^r / (w_mean^(1-r) + 1e-4), 1e-4) (duo scaling; else x_mean^r),
/// then s /= sqrt(max s · min s), non-finite values -> 1 (AutoAWQ `_search_best_scale`).
inline std::vector<float> awq_candidate_scales(std::span<const float> x_mean, std::span<const float> w_mean, float r,
                                               bool duo) {
  std::vector<float> s(x_mean.size());
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (std::size_t c = 0; c < s.size(); ++c) {
    const float v = duo ? std::pow(x_mean[c], r) / (std::pow(w_mean[c], 1 - r) + 1e-4f) : std::pow(x_mean[c], r);
    s[c] = std::max(v, 1e-4f);
    lo = std::min(lo, s[c]);
    hi = std::max(hi, s[c]);
  }
  const float norm = std::sqrt(hi * lo);
  for (float& v : s) {
    v /= norm;
    if (!std::isfinite(v)) v = 1;
  }
  return s;
}

}  // namespace ptq
