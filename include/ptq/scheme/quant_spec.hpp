/// @file QuantSpec: a quantization scheme as runtime data (what a checkpoint records and the command line chooses).
/// Ground floor, like scheme/quant_scheme.hpp: no fmt, no exceptions (quant/quantizer.hpp's `validate` throws).
///
///   using Scheme = ptq::QuantScheme<4, 128, ptq::Symmetry::kSymmetric>;   // W4 g128 sym (= ptq::W4G128Sym)
///   ptq::QuantSpec spec = ptq::spec_of<Scheme>();                         // the same, as runtime data
///   ptq::config_name(spec) == "w4g128s"
/// bits 2..8; group_size a positive multiple of 8 or kPerChannel (one group spans a whole row).
#pragma once

#include "ptq/core/config.hpp"
#include "ptq/scheme/quant_scheme.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ptq {

struct QuantSpec {
  int bits = 4;                          // code width, 2..8
  int group_size = 128;                  // input channels per scale; kPerChannel = whole row
  Symmetry symmetry = Symmetry::kSymmetric;

  static constexpr std::array<std::string_view, 3> field_names{"bits", "group_size", "symmetry"};
  [[nodiscard]] PTQ_HOST_DEVICE constexpr int maxq() const { return (1 << bits) - 1; }
  [[nodiscard]] PTQ_HOST_DEVICE constexpr bool sym() const { return symmetry == Symmetry::kSymmetric; }
  /// Group size for a row of k inputs.
  [[nodiscard]] PTQ_HOST_DEVICE constexpr std::int64_t group(std::int64_t k) const {
    return group_size == kPerChannel ? k : group_size;
  }
  friend constexpr bool operator==(const QuantSpec&, const QuantSpec&) = default;
};

template <QuantSchemeLike S>
constexpr QuantSpec spec_of() { return {S::bits, S::group_size, S::symmetry}; }

/// "w4g128s", "w3g64a", "w8gcs": one name for tests, benchmarks and leaderboard keys.
inline std::string config_name(const QuantSpec& s) {
  return "w" + std::to_string(s.bits) + "g" + (s.group_size == kPerChannel ? std::string("c") : std::to_string(s.group_size)) +
         (s.sym() ? "s" : "a");
}

}  // namespace ptq
