/// @file Host-side quantization helpers over the ground floor's grids (scheme/grid.hpp, which states the
/// reference conventions): scheme validation with messages, the grid of a run of weights, tie margins.
#pragma once

#include "ptq/core/numeric.hpp"
#include "ptq/core/status.hpp"
#include "ptq/scheme/grid.hpp"
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

/// The grid of one group of weights (its extremes through grid_params).
inline GroupParams find_params(std::span<const float> w, const QuantSpec& spec, Grid grid) {
  float lo = w.empty() ? 0.0f : w[0], hi = lo;
  for (float v : w) { lo = std::min(lo, v); hi = std::max(hi, v); }
  return grid_params(lo, hi, spec, grid);
}

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
