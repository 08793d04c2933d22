/// @file Small, fast, seedable random numbers for tests, benchmarks and calibration sampling.
/// splitmix64 (public domain, Steele/Lea/Flood): deterministic across platforms, unlike std::*_distribution.
#pragma once

#include <cmath>
#include <cstdint>

namespace ptq {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  /// Standard normal (Box-Muller).
  float normal() {
    const float u1 = uniform() + 0x1.0p-25f, u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
  }

 private:
  std::uint64_t state_;
};

}  // namespace ptq
