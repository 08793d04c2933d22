/// @file Quantization schemes: compile-time types where they change generated code, plain data otherwise.
///
///   using Scheme = ptq::QuantScheme<4, 128, ptq::Symmetry::kSymmetric>;   // W4 g128 sym (= ptq::W4G128Sym)
///   ptq::QuantSpec spec = ptq::spec_of<Scheme>();                         // the same, as runtime data
///   ptq::config_name(spec) == "w4g128s"
/// bits 2..8; group_size a positive multiple of 8 or kPerChannel (one group spans a whole row).
#pragma once

#include "ptq/core/config.hpp"
#include "ptq/quant/policy.hpp"
#include "ptq/core/status.hpp"

#include <fmt/format.h>

#include <array>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace ptq {

/// A scheme as runtime data (what a checkpoint records and the command line chooses).
struct QuantSpec {
  int bits = 4;                          // code width, 2..8
  int group_size = 128;                  // input channels per scale; kPerChannel = whole row
  Symmetry symmetry = Symmetry::kSymmetric;

  static constexpr std::array<std::string_view, 3> field_names{"bits", "group_size", "symmetry"};
  [[nodiscard]] int maxq() const { return (1 << bits) - 1; }
  [[nodiscard]] bool sym() const { return symmetry == Symmetry::kSymmetric; }
  /// Group size for a row of k inputs.
  [[nodiscard]] std::int64_t group(std::int64_t k) const { return group_size == kPerChannel ? k : group_size; }
  friend bool operator==(const QuantSpec&, const QuantSpec&) = default;
};

template <QuantSchemeLike S>
constexpr QuantSpec spec_of() { return {S::bits, S::group_size, S::symmetry}; }

inline void validate(const QuantSpec& s, const std::string& where) {
  check(s.bits >= 2 && s.bits <= 8, where, "bits", "must be 2..8, got {}", s.bits);
  check(s.group_size == kPerChannel || (s.group_size > 0 && s.group_size % 8 == 0), where, "group_size",
        "must be 0 (per channel) or a positive multiple of 8, got {}", s.group_size);
}

/// "w4g128s", "w3g64a", "w8gcs": one name for tests, benchmarks and leaderboard keys.
inline std::string config_name(const QuantSpec& s) {
  return fmt::format("w{}g{}{}", s.bits, s.group_size == kPerChannel ? std::string("c") : std::to_string(s.group_size),
                     s.sym() ? "s" : "a");
}

}  // namespace ptq

template <>
struct fmt::formatter<ptq::Symmetry> : fmt::formatter<std::string_view> {
  auto format(ptq::Symmetry s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s == ptq::Symmetry::kSymmetric ? "sym" : "asym", ctx);
  }
};
