/// @file Per-group quantization grids, with the conventions of the reference implementations.
///
/// Codes are unsigned 0..maxq (maxq = 2^bits - 1); a weight dequantizes to scale * (code - zero).
/// Scales are rounded to fp16 *before* codes are computed, so a packed checkpoint (fp16 scales) is exactly
/// the model that was evaluated. Codes round half to even, like torch.round.
///
/// Grid::kGptq — IST-DASLab/gptq quant.py `Quantizer.find_params`, used by RTN and GPTQ:
///   xmin = min(min w, 0), xmax = max(max w, 0)                  (the range always contains 0)
///   sym:  xmax = max(|xmin|, xmax), xmin = -xmax if xmin < 0;  zero = (maxq + 1) / 2
///   asym: zero = round(-xmin / scale)
///   xmin == xmax == 0 -> [-1, 1];  scale = (xmax - xmin) / maxq
/// Grid::kAwq — AutoAWQ / llm-awq `pseudo_quantize_tensor`:
///   asym: scale = max(max w - min w, 1e-5) / maxq, zero = clamp(-round(min w / scale), 0, maxq)
///         (the range is not forced to contain 0)
///   sym:  scale = max|w| / (2^(bits-1) - 1), zero = 2^(bits-1)  (codes = signed q + 2^(bits-1))
#pragma once

#include "ptq/core/numeric.hpp"
#include "ptq/core/status.hpp"
#include "ptq/scheme/instantiated.hpp"
#include "ptq/scheme/quant_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>

namespace ptq {

/// Throws naming `where` unless the scheme is one ptq can quantize to.
inline void validate(const QuantSpec& s, const std::string& where) {
  check(s.bits >= 2 && s.bits <= 8, where, "bits", "must be 2..8, got {}", s.bits);
  check(s.group_size == kPerChannel || (s.group_size > 0 && s.group_size % 8 == 0), where, "group_size",
        "must be 0 (per channel) or a positive multiple of 8, got {}", s.group_size);
}

/// Throws naming `where` unless code that takes the scheme as a type was compiled for it (scheme/instantiated.hpp).
inline void require_instantiated(const QuantSpec& s, const std::string& where) {
  check(visit_scheme(s, []<class>() {}), where, "scheme", "{} is not instantiated (instantiated: {})", config_name(s),
        instantiated_scheme_names());
}

enum class Grid : std::uint8_t { kGptq, kAwq };

struct GroupParams {
  float scale = 1;  // fp16-representable
  int zero = 0;     // 0..maxq
};

/// Rounds a positive scale to fp16, keeping it at least the smallest fp16 subnormal.
inline float fp16_scale(float s) {
  const float r = to_float(to_fp16(s));
  return r > 0 ? r : 5.9604644775390625e-08f;
}

/// The grid of one group of weights.
inline GroupParams find_params(std::span<const float> w, const QuantSpec& spec, Grid grid) {
  const int maxq = spec.maxq();
  float lo = w.empty() ? 0.0f : w[0], hi = lo;
  for (float v : w) { lo = std::min(lo, v); hi = std::max(hi, v); }
  GroupParams p;
  if (grid == Grid::kGptq) {
    float xmin = std::min(lo, 0.0f), xmax = std::max(hi, 0.0f);
    if (spec.sym()) {
      xmax = std::max(-xmin, xmax);
      if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
    p.scale = fp16_scale((xmax - xmin) / static_cast<float>(maxq));
    p.zero = spec.sym() ? (maxq + 1) / 2
                        : std::clamp(static_cast<int>(std::nearbyint(-xmin / p.scale)), 0, maxq);
  } else if (spec.sym()) {
    const float amax = std::max(-lo, hi);
    p.scale = fp16_scale(std::max(amax, 1e-5f) / static_cast<float>((1 << (spec.bits - 1)) - 1));
    p.zero = 1 << (spec.bits - 1);
  } else {
    p.scale = fp16_scale(std::max(hi - lo, 1e-5f) / static_cast<float>(maxq));
    p.zero = std::clamp(static_cast<int>(-std::nearbyint(lo / p.scale)), 0, maxq);
  }
  return p;
}

/// clamp(round(w / scale) + zero, 0, maxq), ties to even.
inline int quantize_code(float w, const GroupParams& p, int maxq) {
  return std::clamp(static_cast<int>(std::nearbyint(w / p.scale)) + p.zero, 0, maxq);
}

inline float dequantize_code(int code, const GroupParams& p) { return p.scale * static_cast<float>(code - p.zero); }

/// How far w / scale lies from the nearest rounding midpoint, in grid steps: 0 is a tie (the code flips under any
/// perturbation), 0.5 is on a grid point. Clamped codes far outside the range cannot flip but are measured the same.
inline float tie_margin(float w, const GroupParams& p) {
  const float x = w / p.scale;
  return std::fabs(x - std::floor(x) - 0.5f);
}

}  // namespace ptq

template <>
struct fmt::formatter<ptq::Symmetry> : fmt::formatter<std::string_view> {
  auto format(ptq::Symmetry s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s == ptq::Symmetry::kSymmetric ? "sym" : "asym", ctx);
  }
};
