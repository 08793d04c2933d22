/// @file A scheme sweep: one leaderboard row per (method, scheme[, act-order][, calibration seed]), each in its own
/// process (`ptq row`, whose record is <out>/<key>.json), so that a killed sweep resumes: a combination whose record
/// exists with status ok is skipped, a half-done one resumes from its finished layers. `plan` writes the same
/// commands as a manifest, one line each, to run as they are under a Slurm job array or GNU parallel on many nodes;
/// `ptq leaderboard --results <out>` merges the records and draws the Pareto front (render.hpp).
///
///   ptq sweep --model M --methods rtn,gptq,awq --schemes w4g128s,w3g128a --out sweep   # runs them, in order
///   ptq sweep ... --plan > sweep/manifest.txt; parallel -j 8 < sweep/manifest.txt      # or spread them
#pragma once

#include "ptq/leaderboard/render.hpp"
#include "ptq/leaderboard/row.hpp"
#include "ptq/scheme/instantiated.hpp"

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

namespace ptq {

struct SweepOptions {
  std::vector<std::string> methods{"rtn", "gptq", "awq"};
  std::vector<std::string> schemes{"w4g128s", "w4g128a", "w3g128a"};  // config_name names, instantiated ones
  std::vector<double> budgets;      // mixed precision: a row per method and budget (bits per weight) ...
  std::vector<std::string> candidates{"w3g128a", "w4g128s", "w8g128s"};  // ... choosing among these
  std::string act_order = "off";    // GPTQ's act-order: off | on | both
  int seeds = 1;                    // calibration seeds 0..seeds-1 per calibrated combination (RTN: one)
  bool fp16 = true;                 // the unquantized baseline row too
  fs::path out;                     // the records' folder
  bool keep_checkpoints = false;    // keep each row's quantized checkpoint (<out>/models/<key>: a 7B W4 is 5 GB)
  std::vector<std::string> row_args;  // passed to every row: model, data, sizes, calibration, device
};

/// One row of a sweep.
struct SweepPoint {
  std::string key;          // the record's name: <method>_<scheme>[_actorder][_seed<k>]; fp16
  std::string combination;  // the key without the seed
  std::string method, scheme;
  bool act_order = false;
  int seed = 0;
  double budget = 0;        // mixed precision's bits per weight (0: `scheme` for every linear)
};

/// The sweep's rows, in order (fp16 first); refuses an unknown method, an un-instantiated scheme (with the list) or
/// an act-order value other than off, on, both.
inline std::vector<SweepPoint> sweep_points(const SweepOptions& o) {
  check(o.act_order == "off" || o.act_order == "on" || o.act_order == "both", "", "--act-order",
        "\"{}\" is not off, on or both", o.act_order);
  check(o.seeds >= 1, "", "--seeds", "{} is not a positive number of seeds", o.seeds);
  check(!o.methods.empty() && (!o.schemes.empty() || !o.budgets.empty()), "", "sweep", "no method or no scheme");
  std::vector<SweepPoint> out;
  if (o.fp16) out.push_back({"fp16", "fp16", "fp16", "bf16", false, 0, 0});
  // (scheme's name, its key part, budget): the uniform schemes, then the mixed budgets.
  std::vector<std::tuple<std::string, std::string, double>> schemes;
  for (const std::string& s : o.schemes) {
    QuantSpec spec;
    check(instantiated_spec(s, spec), "", "--schemes", "\"{}\" is not an instantiated scheme (instantiated: {})", s,
          instantiated_scheme_names());
    schemes.emplace_back(s, s, 0);
  }
  for (const double b : o.budgets) {
    check(b > 0, "", "--budgets", "{} is not a positive number of bits per weight", b);
    schemes.emplace_back(mixed_name({b, parse_candidates(o.candidates)}), fmt::format("mix{}", b), b);
  }
  for (const std::string& m : o.methods) {
    const Method method = parse_method(m);
    for (const auto& [scheme, part, budget] : schemes) {
      std::vector<bool> orders{false};
      if (method == Method::kGptq && o.act_order != "off") orders = o.act_order == "on" ? std::vector{true} : std::vector{false, true};
      for (const bool ao : orders) {
        const std::string combination = fmt::format("{}_{}{}", m, part, ao ? "_actorder" : "");
        const int seeds = method == Method::kRtn && budget == 0 ? 1 : o.seeds;  // a mixed RTN row calibrates
        for (int seed = 0; seed < seeds; ++seed)
          out.push_back({seeds > 1 ? fmt::format("{}_seed{}", combination, seed) : combination, combination, m, scheme,
                         ao, seed, budget});
      }
    }
  }
  return out;
}

/// The command line of one row: `program row ...` (program: an absolute path, so that the line runs anywhere the
/// same file system is mounted).
inline std::vector<std::string> sweep_command(const fs::path& program, const SweepPoint& p, const SweepOptions& o) {
  std::vector<std::string> args{program.string(), "row", "--method", p.method};
  if (p.budget > 0) {
    std::string candidates;
    for (const std::string& c : o.candidates) candidates += (candidates.empty() ? "" : ",") + c;
    args.insert(args.end(), {"--budget-bits", fmt::format("{}", p.budget), "--candidates", candidates});
  } else if (p.method != "fp16") {
    args.insert(args.end(), {"--scheme", p.scheme});
  }
  args.insert(args.end(), {"--key", p.key, "--combination", p.combination, "--results", o.out.string()});
  if (p.act_order) args.emplace_back("--act-order");
  if (!o.keep_checkpoints) args.emplace_back("--discard-checkpoint");
  if (p.method != "fp16" && (p.method != "rtn" || p.budget > 0))
    args.insert(args.end(), {"--calib-seed", std::to_string(p.seed)});
  args.insert(args.end(), o.row_args.begin(), o.row_args.end());
  return args;
}

/// `s` quoted for a POSIX shell when it needs to be.
inline std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// The manifest: one shell command per row, in sweep order.
inline std::string sweep_manifest(const fs::path& program, const SweepOptions& o) {
  std::string out;
  for (const SweepPoint& p : sweep_points(o)) {
    const auto args = sweep_command(program, p, o);
    for (std::size_t i = 0; i < args.size(); ++i) out += (i ? " " : "") + shell_quote(args[i]);
    out += "\n";
  }
  return out;
}

/// Whether <out>/<key>.json holds a finished row.
inline bool sweep_row_done(const SweepOptions& o, const SweepPoint& p) {
  const fs::path record = o.out / (p.key + ".json");
  if (!fs::exists(record)) return false;
  const auto j = nlohmann::json::parse(read_text_file(record), nullptr, false);
  return j.is_object() && j.contains("status") && j["status"] == "ok";
}

/// Runs every row not yet done, one process each, with a progress line (rows done, the ETA from the mean time of
/// the rows run so far); then renders <out>/leaderboard.md and .html. Exit status: 0, 1 when a row failed (the
/// others still run), 2 when a row refused its options (the rest would too).
inline int run_sweep(const fs::path& program, const SweepOptions& o) {
  const std::vector<SweepPoint> points = sweep_points(o);
  fs::create_directories(o.out);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t ran = 0, skipped = 0, failed = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const SweepPoint& p = points[i];
    if (sweep_row_done(o, p)) {
      ++skipped;
      fmt::print("[{}/{}] {}: done before, skipped\n", i + 1, points.size(), p.key);
      continue;
    }
    const auto t = std::chrono::steady_clock::now();
    std::fflush(stdout);
    const int status = detail::run_process(program, sweep_command(program, p, o));
    if (status == 2) {
      fmt::print(stderr, "ptq sweep: row {} refused its options (above); stopping\n", p.key);
      return 2;
    }
    failed += status != 0;
    ++ran;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    const double mean = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / ran;
    const std::size_t left = points.size() - i - 1;
    fmt::print("[{}/{}] {}: {} in {:.1f} s; {} left, ETA {:.0f} s\n", i + 1, points.size(), p.key,
               status == 0 ? "ok" : "FAILED", secs, left, mean * static_cast<double>(left));
    std::fflush(stdout);
  }
  const auto records = load_records(o.out);
  for (const char* format : {"md", "html"})
    write_file_atomic(o.out / fmt::format("leaderboard.{}", format),
                      [&](std::ostream& s) { s << render_leaderboard(records, format); });
  fmt::print("ptq sweep: {} rows ran ({} failed), {} done before, in {:.1f} s; wrote {}\n", ran, failed, skipped,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
             (o.out / "leaderboard.md").string());
  return failed ? 1 : 0;
}

}  // namespace ptq
