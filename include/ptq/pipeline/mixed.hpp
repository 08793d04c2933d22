/// @file Mixed precision under a bit budget: a scheme per linear, chosen from candidates so that the quantized
/// linears store at most B bits per weight (codes, scales, zero points, g_idx over their weight count) and the
/// predicted loss is least.
///
/// 1. Sensitivity (measure_sensitivity, one pass over the calibration windows, nothing installed): every linear,
///    quantized alone by the request's method with each candidate, on the inputs of the full-precision model; its
///    loss is the mean squared output error it causes, E = ‖(W - Q) X‖² / tokens = ½ tr(ΔW H ΔWᵀ) with GPTQ's
///    H = 2 XᵀX / tokens (CpuLayers::sensitivity). E adds over linears to first order (each linear's output error
///    is what the next layers see), which is what the allocation assumes. Cost: one forward pass of the calibration
///    windows plus, per linear, one quantization per candidate and a (N, K) x (K, K) product: for GPTQ about
///    `candidates` whole-model solves without their forward passes.
/// 2. Allocation (allocate_bits): a multiple-choice knapsack, solved by its Lagrangian (each unit takes
///    argmin E + λ · bits; the least λ that meets the budget, by bisection), then filled greedily with the upgrades
///    that buy the most loss per bit while they fit. The units are linears, or for AWQ the groups it scales together
///    (q/k/v, o, gate/up, down share one scheme: the scale search quantizes them together).
/// 3. The whole-model pass with each linear in its scheme (LayerwiseRequest::linear_specs).
#pragma once

#include "ptq/core/progress.hpp"
#include "ptq/pipeline/cpu_layers.hpp"
#include "ptq/scheme/instantiated.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

namespace ptq {

/// What mixed precision asks: the budget and the schemes a linear may take.
struct MixedParams {
  double budget_bits = 0;             // most stored bits per weight over the quantized linears
  std::vector<QuantSpec> candidates;  // the schemes a linear may take (config_name names)
  static constexpr std::array<std::string_view, 2> field_names{"budget_bits", "candidates"};
};
static_assert(NamedAggregate<MixedParams>, "field_names out of step with MixedParams' fields");

/// The candidates named by config_name names (instantiated schemes only, as a sweep's: scheme/instantiated.hpp).
inline std::vector<QuantSpec> parse_candidates(const std::vector<std::string>& names) {
  check(names.size() >= 2, "", "--candidates", "mixed precision needs at least two candidate schemes, got {}",
        names.size());
  std::vector<QuantSpec> out;
  for (const std::string& n : names) {
    QuantSpec spec;
    check(instantiated_spec(n, spec), "", "--candidates", "\"{}\" is not an instantiated scheme (instantiated: {})", n,
          instantiated_scheme_names());
    check(std::find(out.begin(), out.end(), spec) == out.end(), "", "--candidates", "\"{}\" is named twice", n);
    out.push_back(spec);
  }
  return out;
}

/// A mixed scheme's name in records and leaderboard keys: "mix3.6[w3g128a+w4g128s+w8g128s]".
inline std::string mixed_name(const MixedParams& m) {
  std::string c;
  for (const QuantSpec& s : m.candidates) c += (c.empty() ? "" : "+") + config_name(s);
  return fmt::format("mix{}[{}]", m.budget_bits, c);
}

/// Every linear's measured loss and stored bits under every candidate, layer-major in kLinearNames order.
struct Sensitivity {
  std::vector<QuantSpec> candidates;
  std::vector<std::string> names;              // model.layers.<i>.<linear>
  std::vector<double> weights;                 // out x in features
  std::vector<std::vector<double>> loss, bits; // [linear][candidate]: E, and stored bits (packed bytes x 8)
  double seconds = 0;
};

/// Step 1 over a CPU model (nothing installed; the streams pass through the full-precision layers).
inline Sensitivity measure_sensitivity(CpuLayers& cpu, const std::vector<QuantSpec>& candidates,
                                       const std::vector<std::vector<std::int32_t>>& calibration, bool progress) {
  const auto t0 = std::chrono::steady_clock::now();
  Sensitivity s;
  s.candidates = candidates;
  const std::size_t nc = candidates.size();
  Progress bar("sensitivity", static_cast<double>(cpu.num_layers()), "layers", progress);
  cpu.embed(calibration);
  for (std::size_t li = 0; li < cpu.num_layers(); ++li) {
    const std::vector<CpuLayers::Measured> m = cpu.sensitivity(li, candidates);
    for (std::size_t slot = 0; slot < 7; ++slot) {
      const auto shape = cpu.shape(li, static_cast<int>(slot));
      s.names.push_back(fmt::format("model.layers.{}.{}", li, kLinearNames[slot]));
      s.weights.push_back(static_cast<double>(shape[0]) * static_cast<double>(shape[1]));
      s.loss.emplace_back(nc);
      s.bits.emplace_back(nc);
      for (std::size_t c = 0; c < nc; ++c) {
        s.loss.back()[c] = m[slot * nc + c].loss;
        s.bits.back()[c] = 8.0 * static_cast<double>(m[slot * nc + c].bytes);
      }
    }
    cpu.advance(li);
    bar.advance(1);
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

/// A set of linears that take one scheme, with its total weights, and per candidate its loss and stored bits.
struct AllocationUnit {
  std::vector<std::size_t> linears;  // indexes into Sensitivity's lists
  double weights = 0;
  std::vector<double> loss, bits;
};

/// The allocation units of a method: each linear, or AWQ's groups within each layer.
inline std::vector<AllocationUnit> allocation_units(const Sensitivity& s, Method method) {
  std::vector<AllocationUnit> units;
  const std::size_t nc = s.candidates.size();
  auto add = [&](std::vector<std::size_t> members) {
    AllocationUnit u{std::move(members), 0, std::vector<double>(nc), std::vector<double>(nc)};
    for (const std::size_t i : u.linears) {
      u.weights += s.weights[i];
      for (std::size_t c = 0; c < nc; ++c) {
        u.loss[c] += s.loss[i][c];
        u.bits[c] += s.bits[i][c];
      }
    }
    units.push_back(std::move(u));
  };
  for (std::size_t layer0 = 0; layer0 < s.names.size(); layer0 += 7) {
    if (method != Method::kAwq) {
      for (std::size_t slot = 0; slot < 7; ++slot) add({layer0 + slot});
      continue;
    }
    for (const LinearGroup& g : kLinearGroups) {
      std::vector<std::size_t> members;
      for (const int m : g.members()) members.push_back(layer0 + static_cast<std::size_t>(m));
      add(std::move(members));
    }
  }
  return units;
}

/// Step 2: a candidate index per unit with Σ bits ≤ budget · Σ weights and the least Σ loss the Lagrangian and the
/// greedy fill find. Throws when even the smallest candidates exceed the budget.
inline std::vector<std::size_t> allocate_bits(const std::vector<AllocationUnit>& units, double budget_bits) {
  double weights = 0, least = 0;
  for (const AllocationUnit& u : units) {
    weights += u.weights;
    least += *std::min_element(u.bits.begin(), u.bits.end());
  }
  const double budget = budget_bits * weights;
  check(least <= budget, "", "--budget-bits", "{} bits per weight is below the smallest allocation the candidates "
        "allow ({:.4f})", budget_bits, least / weights);
  // Each unit's choice at multiplier λ: the least loss + λ · bits (ties: fewer bits, then the earlier candidate).
  const auto choose = [&](double lambda, std::vector<std::size_t>& choice) {
    double bits = 0;
    for (std::size_t u = 0; u < units.size(); ++u) {
      const AllocationUnit& x = units[u];
      std::size_t best = 0;
      for (std::size_t c = 1; c < x.loss.size(); ++c) {
        const double a = x.loss[c] + lambda * x.bits[c], b = x.loss[best] + lambda * x.bits[best];
        if (a < b || (a == b && x.bits[c] < x.bits[best])) best = c;
      }
      choice[u] = best;
      bits += x.bits[best];
    }
    return bits;
  };
  std::vector<std::size_t> choice(units.size());
  if (choose(0, choice) > budget) {
    double lo = 0, hi = 1e-30;
    while (choose(hi, choice) > budget) hi *= 2;  // bits fall as λ grows; at a large λ every unit takes its smallest
    for (int i = 0; i < 200; ++i) {
      const double mid = lo + (hi - lo) / 2;
      (choose(mid, choice) > budget ? lo : hi) = mid;
    }
    choose(hi, choice);
  }
  // Greedy fill: the upgrade with the most loss saved per extra bit that still fits, until none does.
  double bits = 0;
  for (std::size_t u = 0; u < units.size(); ++u) bits += units[u].bits[choice[u]];
  for (;;) {
    double best_rate = 0;
    std::size_t bu = units.size(), bc = 0;
    for (std::size_t u = 0; u < units.size(); ++u) {
      const AllocationUnit& x = units[u];
      for (std::size_t c = 0; c < x.loss.size(); ++c) {
        const double dl = x.loss[choice[u]] - x.loss[c], db = x.bits[c] - x.bits[choice[u]];
        if (dl <= 0 || bits + std::max(db, 0.0) > budget) continue;
        const double rate = db <= 0 ? std::numeric_limits<double>::infinity() : dl / db;
        if (rate > best_rate) best_rate = rate, bu = u, bc = c;
      }
    }
    if (bu == units.size()) break;
    bits += units[bu].bits[bc] - units[bu].bits[choice[bu]];
    choice[bu] = bc;
  }
  return choice;
}

/// The outcome of steps 1 and 2, per linear (Sensitivity's order).
struct MixedPlan {
  std::vector<std::array<QuantSpec, 7>> linear_specs;  // LayerwiseRequest::linear_specs
  std::vector<std::string> names;
  std::vector<std::size_t> choice;                     // candidate index per linear
  double bits_per_weight = 0;                          // predicted from the measured packed sizes
  double predicted_loss = 0;                           // Σ E of the chosen candidates
  double sensitivity_seconds = 0;
};

inline MixedPlan plan_mixed(const Sensitivity& s, Method method, double budget_bits) {
  const std::vector<AllocationUnit> units = allocation_units(s, method);
  const std::vector<std::size_t> unit_choice = allocate_bits(units, budget_bits);
  MixedPlan p;
  p.names = s.names;
  p.choice.resize(s.names.size());
  p.linear_specs.resize(s.names.size() / 7);
  double bits = 0, weights = 0;
  for (std::size_t u = 0; u < units.size(); ++u)
    for (const std::size_t i : units[u].linears) {
      const std::size_t c = unit_choice[u];
      p.choice[i] = c;
      p.linear_specs[i / 7][i % 7] = s.candidates[c];
      bits += s.bits[i][c];
      weights += s.weights[i];
      p.predicted_loss += s.loss[i][c];
    }
  p.bits_per_weight = bits / weights;
  p.sensitivity_seconds = s.seconds;
  return p;
}

/// The plan as a record's JSON: predictions, cost, how many linears took each scheme, and each linear's scheme.
inline nlohmann::ordered_json mixed_json(const MixedPlan& p) {
  nlohmann::ordered_json counts = nlohmann::ordered_json::object(), linears = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < p.names.size(); ++i) {
    const std::string name = config_name(p.linear_specs[i / 7][i % 7]);
    counts[name] = counts.value(name, 0) + 1;
    linears[p.names[i]] = name;
  }
  return {{"predicted_bits_per_weight", p.bits_per_weight}, {"predicted_loss", p.predicted_loss},
          {"sensitivity_seconds", p.sensitivity_seconds}, {"linears_per_scheme", counts}, {"linears", linears}};
}

}  // namespace ptq
