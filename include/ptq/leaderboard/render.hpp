/// @file The leaderboard: row records (record.hpp) rendered as Markdown, CSV, JSON or one self-contained HTML page.
///
/// Sections (Markdown and HTML; the same as the original leaderboard, plus environment): the overview (rank by
/// perplexity, PPL, average accuracy, their change against FP16, memory, quantization time), the per-task table
/// with changes against FP16, acc and acc_norm side by side, the MMLU categories, the three averages, failed rows
/// with their error, and the environment. CSV and JSON hold one flat summary per row (`summarize`), the same keys.
/// `lang` "zh" gives Chinese headings.
#pragma once

#include "ptq/leaderboard/record.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace ptq {

/// Reads every row record (*.json with the record schema) in `dir`, in file-name order.
inline std::vector<nlohmann::ordered_json> load_records(const fs::path& dir) {
  check(fs::is_directory(dir), dir.string(), "", "not a folder of result records");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<nlohmann::ordered_json> out;
  for (const auto& f : files) {
    auto j = nlohmann::ordered_json::parse(read_text_file(f), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("schema") || j["schema"] != kRecordSchema) continue;
    for (const char* key : {"row", "status"})
      check(j.contains(key) && j[key].is_string(), f.string(), key, "a row record needs it as a string");
    out.push_back(std::move(j));
  }
  check(!out.empty(), dir.string(), "", "no row records (*.json with schema {}) here", kRecordSchema);
  return out;
}

namespace detail {

inline const nlohmann::ordered_json* find_path(const nlohmann::ordered_json& j, std::initializer_list<const char*> keys) {
  const nlohmann::ordered_json* p = &j;
  for (const char* k : keys) {
    if (!p->is_object() || !p->contains(k) || (*p)[k].is_null()) return nullptr;
    p = &(*p)[k];
  }
  return p;
}

inline nlohmann::ordered_json number_at(const nlohmann::ordered_json& j, std::initializer_list<const char*> keys) {
  const auto* p = find_path(j, keys);
  return p && p->is_number() ? *p : nlohmann::ordered_json();
}

/// The string at `keys`, or `fallback` where there is none (absent, null or of another type).
inline std::string string_at(const nlohmann::ordered_json& j, std::initializer_list<const char*> keys,
                             const char* fallback) {
  const auto* p = find_path(j, keys);
  return p && p->is_string() ? p->get<std::string>() : fallback;
}

inline bool true_at(const nlohmann::ordered_json& j, std::initializer_list<const char*> keys) {
  const auto* p = find_path(j, keys);
  return p && p->is_boolean() && p->get<bool>();
}

/// A sweep's combination: its rows (one per calibration seed) as one point, the means of what the front compares.
struct Combination {
  std::string name;
  double bits = 0, mb = 0, ppl = 0, ppl_lo = 0, ppl_hi = 0, acc = 0;
  bool has_acc = true;
  int seeds = 0;
  bool front_bits = false, front_bytes = false, front_acc = false;  // on the Pareto fronts (add_pareto says which)
};

/// Whether `b` dominates `a`: no worse in both coordinates (x lower is better; y lower is better unless
/// `y_higher_better`) and better in one.
inline bool dominates(double bx, double by, double ax, double ay, bool y_higher_better) {
  if (y_higher_better) {
    by = -by;
    ay = -ay;
  }
  return bx <= ax && by <= ay && (bx < ax || by < ay);
}

/// The combinations of the ok rows that have bits per weight, in first-seen order, with their front flags.
inline std::vector<Combination> combinations(const std::vector<nlohmann::ordered_json>& rows) {
  std::vector<Combination> out;
  for (const auto& s : rows) {
    if (s["status"] != "ok" || !s["ppl"].is_number() || !s["bits_per_weight"].is_number()) continue;
    const std::string name = s["combination"].get<std::string>();
    auto it = std::find_if(out.begin(), out.end(), [&](const Combination& c) { return c.name == name; });
    if (it == out.end()) {
      constexpr double kInf = std::numeric_limits<double>::infinity();
      out.push_back({name, s["bits_per_weight"].get<double>(), s["weight_mb"].is_number() ? s["weight_mb"].get<double>() : 0,
                     0, kInf, -kInf, 0, true, 0});
      it = out.end() - 1;
    }
    const double p = s["ppl"].get<double>();
    it->ppl += p;
    it->ppl_lo = std::min(it->ppl_lo, p);
    it->ppl_hi = std::max(it->ppl_hi, p);
    it->has_acc = it->has_acc && s["avg_tasks"].is_number();
    if (s["avg_tasks"].is_number()) it->acc += s["avg_tasks"].get<double>();
    ++it->seeds;
  }
  for (Combination& c : out) {
    c.ppl /= c.seeds;
    c.acc /= c.seeds;
  }
  for (Combination& a : out) {
    a.front_bits = a.front_bytes = true;
    a.front_acc = a.has_acc;
    for (const Combination& b : out) {
      a.front_bits = a.front_bits && !dominates(b.bits, b.ppl, a.bits, a.ppl, false);
      a.front_bytes = a.front_bytes && !dominates(b.mb, b.ppl, a.mb, a.ppl, false);
      if (a.has_acc && b.has_acc) a.front_acc = a.front_acc && !dominates(b.bits, b.acc, a.bits, a.acc, true);
    }
  }
  return out;
}

/// Marks every row with its combination's mean PPL and spread (max − min over seeds) and whether the combination is
/// on the Pareto front of PPL against bits per weight (front_bits) and against the model's weight bytes
/// (front_bytes), and of the tasks' mean accuracy (avg_tasks) against bits per weight (front_acc, when tasks ran):
/// null when the row is not part of it.
inline void add_pareto(std::vector<nlohmann::ordered_json>& rows) {
  const std::vector<Combination> cs = combinations(rows);
  for (auto& s : rows) {
    for (const char* k : {"ppl_mean", "ppl_spread", "acc_mean", "seeds", "front_bits", "front_bytes", "front_acc"})
      s[k] = nullptr;
    const auto it = std::find_if(cs.begin(), cs.end(), [&](const Combination& c) {
      return s["status"] == "ok" && s["bits_per_weight"].is_number() && c.name == s["combination"].get<std::string>();
    });
    if (it == cs.end()) continue;
    const Combination& a = *it;
    s["ppl_mean"] = a.ppl;
    s["ppl_spread"] = a.ppl_hi - a.ppl_lo;
    s["acc_mean"] = a.has_acc ? nlohmann::ordered_json(a.acc) : nlohmann::ordered_json();
    s["seeds"] = a.seeds;
    s["front_bits"] = a.front_bits;
    s["front_bytes"] = a.front_bytes;
    s["front_acc"] = a.has_acc ? nlohmann::ordered_json(a.front_acc) : nlohmann::ordered_json();
  }
}

}  // namespace detail

/// One flat summary per row, ranked by perplexity (failed rows last); deltas against the "fp16" row if present.
inline std::vector<nlohmann::ordered_json> summarize(const std::vector<nlohmann::ordered_json>& records) {
  using detail::number_at, detail::string_at;
  std::vector<nlohmann::ordered_json> rows;
  for (const auto& r : records) {
    nlohmann::ordered_json s{{"rank", nullptr},      {"row", r["row"]},
                             {"label", string_at(r, {"label"}, "")},   {"method", string_at(r, {"method"}, "")},
                             {"scheme", string_at(r, {"scheme"}, "")}, {"status", r["status"]}};
    s["ppl"] = number_at(r, {"ppl", "value"});
    s["ppl_seqlen"] = number_at(r, {"ppl", "seqlen"});
    s["ppl_windows"] = number_at(r, {"ppl", "windows"});
    for (const char* a : {"avg6", "avg6_acc", "lm_eval_rows"}) s[a] = number_at(r, {"averages", a});
    for (const auto& t : kLeaderboardTasks) {
      const std::string task(t.name);
      for (const char* m : {"acc", "acc_norm"}) {
        s[task + "_" + m] = number_at(r, {"tasks", task.c_str(), m, "value"});
        s[task + "_" + m + "_stderr"] = number_at(r, {"tasks", task.c_str(), m, "stderr"});
      }
      s[task + "_n"] = number_at(r, {"tasks", task.c_str(), "n"});
    }
    for (std::string_view c : kMmluCategories)
      s["mmlu_" + std::string(c)] = number_at(r, {"tasks", "mmlu", "categories", std::string(c).c_str(), "value"});
    // The mean of the headline metrics of the tasks this row ran (avg6 when it ran all six): a sweep's accuracy.
    double sum = 0;
    int ran = 0;
    for (const auto& t : kLeaderboardTasks)
      if (const auto v = s[fmt::format("{}_{}", t.name, t.metric)]; v.is_number()) sum += v.get<double>(), ++ran;
    s["avg_tasks"] = ran ? nlohmann::ordered_json(sum / ran) : nlohmann::ordered_json();
    // The memory of the device that evaluated the row: resident host memory (cpu), device memory (cuda: VRAM).
    s["device"] = string_at(r, {"device"}, "cpu");
    const bool vram = detail::find_path(r, {"memory", "device"}) != nullptr;
    for (const auto& [key, host, device] : {std::tuple{"model_mb", "model_rss_bytes", "model_bytes"},
                                            {"peak_mb", "peak_rss_bytes", "peak_bytes"},
                                            {"weight_mb", "weight_bytes", "weight_bytes"}}) {
      const auto b = vram ? number_at(r, {"memory", "device", device}) : number_at(r, {"memory", host});
      s[key] = b.is_null() ? b : nlohmann::ordered_json(b.get<double>() / 1e6);
    }
    s["quant_seconds"] = number_at(r, {"quantization", "seconds"});
    s["bits_per_weight"] = number_at(r, {"bits_per_weight"});  // stored bits of the linears per weight
    const std::string key = s["row"].is_string() ? s["row"].get<std::string>() : "";
    s["combination"] = string_at(r, {"combination"}, key.c_str());
    s["calib_seed"] = number_at(r, {"calibration", "seed"});
    s["wall_seconds"] = number_at(r, {"wall_seconds"});
    bool limited = false;
    if (const auto* tasks = detail::find_path(r, {"tasks"}))
      for (const auto& [_, t] : tasks->items()) limited = limited || detail::true_at(t, {"limited"});
    s["limited"] = limited || detail::true_at(r, {"ppl", "limited"});
    s["error"] = string_at(r, {"error"}, "");
    rows.push_back(std::move(s));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    const bool ga = a["status"] == "ok" && a["ppl"].is_number(), gb = b["status"] == "ok" && b["ppl"].is_number();
    if (ga != gb) return ga;
    return ga && a["ppl"].template get<double>() < b["ppl"].template get<double>();
  });
  const nlohmann::ordered_json* base = nullptr;
  for (const auto& s : rows)
    if (s["row"] == "fp16" && s["status"] == "ok") base = &s;
  int rank = 0;
  for (auto& s : rows) {
    if (s["status"] == "ok" && s["ppl"].is_number()) s["rank"] = ++rank;
    for (const char* k : {"ppl", "avg6"}) {
      const std::string d = std::string(k) + "_delta";
      s[d] = base && s[k].is_number() && (*base)[k].is_number()
                 ? nlohmann::ordered_json(s[k].get<double>() - (*base)[k].get<double>())
                 : nlohmann::ordered_json();
    }
  }
  detail::add_pareto(rows);
  return rows;
}

namespace detail {

struct Strings {
  const char *overview, *tasks, *acc_both, *mmlu, *averages, *failed, *environment, *rank, *method, *scheme, *ppl,
      *avg, *dppl, *dacc, *device, *model_mem, *rss, *weights, *qtime, *wall, *status, *error, *key, *value, *notes, *mmlu_all, *stem,
      *humanities, *social, *other, *avg6, *avg6_acc, *rows_avg, *chart_ppl, *chart_acc, *chart_delta, *pareto,
      *combination, *bits, *ppl_seeds, *front_bits, *front_bytes, *front_acc, *chart_ppl_change, *chart_acc_change,
      *axis_from, *chart_front_bits, *chart_front_bytes, *chart_front_acc, *yes, *no, *acc_tasks;
};

inline constexpr Strings kEn{
    "Overview", "Tasks (headline metric, ± standard error; change against FP16 in parentheses)",
    "acc and acc_norm", "MMLU by category (acc)", "Averages", "Failed rows", "Environment", "Rank", "Method",
    "Scheme", "WikiText-2 PPL", "Avg acc (6 tasks)", "ΔPPL vs FP16", "ΔAcc vs FP16", "Device", "Model memory (MB)", "Peak memory (MB)",
    "Weights (MB)", "Quant time (s)", "Wall time (s)", "Status", "Error", "Item", "Value", "Notes", "MMLU", "STEM",
    "Humanities", "Social sciences", "Other", "avg6 (headline metrics)", "avg6_acc (acc everywhere)",
    "lm_eval_rows (the original table's style)", "WikiText-2 perplexity (lower is better)",
    "Average accuracy over the six tasks", "Per-task change against FP16 (points)",
    "Pareto front (each combination's mean over its calibration seeds)", "Combination", "Bits per weight (linears)",
    "PPL (mean ± spread, seeds)", "Front: PPL vs bits", "Front: PPL vs weight bytes", "Front: accuracy vs bits",
    "Perplexity increase over FP16 (%, lower is better)", "Average accuracy change against FP16 (points)",
    "axis from", "Perplexity against bits per weight (front joined; hover a point for its record)",
    "Perplexity against weight bytes (MB; front joined)", "Mean accuracy of the tasks run against bits per weight (front joined)",
    "yes", "dominated", "Mean accuracy (tasks run)"};

inline constexpr Strings kZh{
    "总览", "各任务结果（主指标 ± 标准误；括号内为相对 FP16 的变化）", "acc 与 acc_norm", "MMLU 分类结果（acc）", "平均值",
    "失败的条目", "运行环境", "排名", "方法", "量化方案", "WikiText-2 困惑度", "平均准确率（6 项任务）", "困惑度变化（相对 FP16）",
    "准确率变化（相对 FP16）", "设备", "模型内存 (MB)", "峰值内存 (MB)", "权重大小 (MB)", "量化耗时 (秒)", "总耗时 (秒)", "状态", "错误", "项目", "值", "说明",
    "MMLU", "理工科 (STEM)", "人文 (Humanities)", "社会科学 (Social sciences)", "其他 (Other)", "avg6（主指标平均）",
    "avg6_acc（均用 acc）", "lm_eval_rows（原表口径）", "WikiText-2 困惑度（越低越好）", "六项任务平均准确率", "各任务相对 FP16 的变化（百分点）",
    "帕累托前沿（各组合在其校准种子上的均值）", "组合", "每权重比特数（线性层）", "困惑度（均值 ± 极差，种子数）", "前沿：困惑度 vs 比特",
    "前沿：困惑度 vs 权重字节", "前沿：准确率 vs 比特", "困惑度相对 FP16 的增幅（%，越低越好）", "平均准确率相对 FP16 的变化（百分点）",
    "坐标轴起点", "困惑度 vs 每权重比特数（前沿连线；悬停查看记录）", "困惑度 vs 权重字节（MB；前沿连线）",
    "平均准确率 vs 每权重比特数（前沿连线）", "是", "被支配", "平均准确率（已运行任务）"};

inline std::string fixed(const nlohmann::ordered_json& v, int digits) {
  return v.is_number() ? fmt::format("{:.{}f}", v.get<double>(), digits) : "—";
}
inline std::string signed_fixed(const nlohmann::ordered_json& v, int digits) {
  return v.is_number() ? fmt::format("{:+.{}f}", v.get<double>(), digits) : "—";
}

/// "0.4321 ± 0.0123 (−0.0100)" for a task metric of a row.
inline std::string task_cell(const nlohmann::ordered_json& s, const nlohmann::ordered_json* base, const std::string& key) {
  if (!s[key].is_number()) return "—";
  std::string c = fmt::format("{:.4f} ± {:.4f}", s[key].get<double>(), s[key + "_stderr"].get<double>());
  if (base && base != &s && (*base)[key].is_number())
    c += fmt::format(" ({:+.4f})", s[key].get<double>() - (*base)[key].get<double>());
  return c;
}

using Table = std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>>;  // header, rows

struct Sections {
  std::vector<std::pair<std::string, Table>> tables;
  std::vector<std::string> notes;
};

inline Sections build_sections(const std::vector<nlohmann::ordered_json>& records,
                               const std::vector<nlohmann::ordered_json>& rows, const Strings& t) {
  Sections out;
  const nlohmann::ordered_json* base = nullptr;
  for (const auto& s : rows)
    if (s["row"] == "fp16" && s["status"] == "ok") base = &s;
  auto name = [](const nlohmann::ordered_json& s) { return s["label"].get<std::string>(); };

  Table overview{{t.rank, t.method, t.scheme, t.ppl, t.avg, t.dppl, t.dacc, t.device, t.model_mem, t.rss, t.weights, t.qtime},
                 {}};
  for (const auto& s : rows)
    if (s["status"] == "ok")
      overview.second.push_back({s["rank"].is_number() ? std::to_string(s["rank"].get<int>()) : "—", name(s),
                                 s["scheme"].get<std::string>(), fixed(s["ppl"], 2), fixed(s["avg6"], 4),
                                 signed_fixed(s["ppl_delta"], 2), signed_fixed(s["avg6_delta"], 4),
                                 s["device"].get<std::string>(), fixed(s["model_mb"], 1), fixed(s["peak_mb"], 1),
                                 fixed(s["weight_mb"], 2), fixed(s["quant_seconds"], 1)});
  out.tables.push_back({t.overview, std::move(overview)});

  Table front{{t.combination, t.bits, t.weights, t.ppl_seeds, t.acc_tasks, t.front_bits, t.front_bytes, t.front_acc}, {}};
  std::vector<Combination> combos = combinations(rows);
  std::stable_sort(combos.begin(), combos.end(), [](const auto& a, const auto& b) { return a.bits < b.bits; });
  auto flag = [&](bool on) { return on ? t.yes : t.no; };
  for (const Combination& c : combos)
    front.second.push_back({c.name, fmt::format("{:.3f}", c.bits), fmt::format("{:.2f}", c.mb),
                            c.seeds > 1 ? fmt::format("{:.2f} ± {:.2f} ({})", c.ppl, c.ppl_hi - c.ppl_lo, c.seeds)
                                        : fmt::format("{:.2f}", c.ppl),
                            c.has_acc ? fmt::format("{:.4f}", c.acc) : "—", flag(c.front_bits), flag(c.front_bytes),
                            c.has_acc ? flag(c.front_acc) : "—"});
  if (!front.second.empty()) out.tables.push_back({t.pareto, std::move(front)});

  Table tasks{{t.method}, {}};
  for (const auto& lt : kLeaderboardTasks) tasks.first.push_back(fmt::format("{} ({})", lt.label, lt.metric));
  for (const auto& s : rows) {
    if (s["status"] != "ok") continue;
    std::vector<std::string> r{name(s)};
    for (const auto& lt : kLeaderboardTasks) r.push_back(task_cell(s, base, fmt::format("{}_{}", lt.name, lt.metric)));
    tasks.second.push_back(std::move(r));
  }
  out.tables.push_back({t.tasks, std::move(tasks)});

  Table both{{t.method}, {}};
  const std::array<std::string_view, 4> both_tasks{"hellaswag", "arc_easy", "arc_challenge", "piqa"};
  for (auto task : both_tasks)
    for (const char* m : {"acc", "acc_norm"}) both.first.push_back(fmt::format("{} {}", task, m));
  for (const auto& s : rows) {
    if (s["status"] != "ok") continue;
    std::vector<std::string> r{name(s)};
    for (auto task : both_tasks)
      for (const char* m : {"acc", "acc_norm"}) r.push_back(fixed(s[fmt::format("{}_{}", task, m)], 4));
    both.second.push_back(std::move(r));
  }
  out.tables.push_back({t.acc_both, std::move(both)});

  Table mmlu{{t.method, t.mmlu_all, t.stem, t.humanities, t.social, t.other}, {}};
  for (const auto& s : rows)
    if (s["status"] == "ok")
      mmlu.second.push_back({name(s), fixed(s["mmlu_acc"], 4), fixed(s["mmlu_stem"], 4), fixed(s["mmlu_humanities"], 4),
                             fixed(s["mmlu_social_sciences"], 4), fixed(s["mmlu_other"], 4)});
  out.tables.push_back({t.mmlu, std::move(mmlu)});

  Table avgs{{t.method, t.avg6, t.avg6_acc, t.rows_avg}, {}};
  for (const auto& s : rows)
    if (s["status"] == "ok")
      avgs.second.push_back({name(s), fixed(s["avg6"], 4), fixed(s["avg6_acc"], 4), fixed(s["lm_eval_rows"], 4)});
  out.tables.push_back({t.averages, std::move(avgs)});

  Table failed{{t.method, t.status, t.error}, {}};
  for (const auto& s : rows)
    if (s["status"] != "ok") failed.second.push_back({name(s), s["status"].get<std::string>(), s["error"].get<std::string>()});
  if (!failed.second.empty()) out.tables.push_back({t.failed, std::move(failed)});

  Table env{{t.key, t.value}, {}};
  if (const auto* e = detail::find_path(records.front(), {"environment"}))
    for (const auto& [k, v] : e->items()) env.second.push_back({k, v.is_string() ? v.get<std::string>() : v.dump()});
  if (const auto* m = detail::find_path(records.front(), {"model", "name"})) env.second.push_back({"model", m->get<std::string>()});
  for (const auto& s : rows)
    if (s["status"] == "ok")
      env.second.push_back({fmt::format("{}: ppl windows / tasks n", name(s)),
                            fmt::format("{} x {} / mmlu {} hellaswag {} arc_easy {} arc_challenge {} piqa {} winogrande {}{}",
                                        fixed(s["ppl_windows"], 0), fixed(s["ppl_seqlen"], 0), fixed(s["mmlu_n"], 0),
                                        fixed(s["hellaswag_n"], 0), fixed(s["arc_easy_n"], 0),
                                        fixed(s["arc_challenge_n"], 0), fixed(s["piqa_n"], 0),
                                        fixed(s["winogrande_n"], 0), s["limited"].get<bool>() ? " (limited)" : "")});
  out.tables.push_back({t.environment, std::move(env)});
  out.notes = {"avg6: mean of the six headline metrics (MMLU acc, HellaSwag acc_norm, ARC-E acc, ARC-C acc_norm, PIQA "
               "acc, Winogrande acc). avg6_acc: the same with acc everywhere. lm_eval_rows: the mean of every metric "
               "row lm-eval prints for these tasks (acc and acc_norm rows, MMLU's groups and 57 subjects), the "
               "original table's style.",
               "PPL: WikiText-2 test, GPTQ protocol (\"\\n\\n\"-joined, non-overlapping windows). Memory is the "
               "evaluating device's. cpu rows: model memory is the resident memory that loading the model added, "
               "measured (every weight is read at load), peak the evaluation process's measured peak RSS (model and "
               "every evaluation). cuda rows (VRAM): model memory is the device memory the model's upload took, peak "
               "the most device memory in use during the evaluation (cudaMemGetInfo). Weights: the bytes the forward "
               "pass reads. Rank: by perplexity."};
  return out;
}

inline std::string markdown_escape(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

inline std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// Horizontal bar chart: one bar per (label, value), drawn from `origin` (0 for changes; a stated, zoomed origin for
/// values that all lie far from zero, so that the differences the tables hold show), value printed at the bar's end.
/// `better`: +1 when values above the origin are better (green; below: red), -1 when below is better, 0 neutral.
inline std::string svg_bars(const std::string& title, const std::vector<std::pair<std::string, double>>& bars,
                            int digits, double origin = 0, int better = 0) {
  const int row = 28, left = 330, width = 420, top = 30;
  double hi = 0;
  for (const auto& [_, v] : bars) hi = std::max(hi, std::fabs(v - origin));
  if (hi == 0) hi = 1;
  std::string s = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              left + width + 90, top + row * static_cast<int>(bars.size()) + 10);
  s += fmt::format(R"(<text x="0" y="18" font-weight="bold">{}</text>)", html_escape(title));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    const double w = width * std::fabs(bars[i].second - origin) / hi;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", left - 8, y + 17, html_escape(bars[i].first));
    const int side = bars[i].second < origin ? -1 : 1;
    s += fmt::format(R"(<rect x="{}" y="{}" width="{:.1f}" height="20" fill="{}"/>)", left, y + 3, w,
                     better == 0 ? "#4f81bd" : side == better ? "#6a9f3a" : "#c0504d");
    s += fmt::format(R"(<text x="{:.1f}" y="{}">{:.{}f}</text>)", left + w + 6, y + 17, bars[i].second, digits);
  }
  return s + "</svg>";
}

/// A point of a scatter chart: its coordinates, its label, what hovering shows, whether it is on the front.
struct ScatterPoint {
  double x = 0, y = 0;
  std::string label, tooltip;
  bool front = false;
};

/// Scatter chart on linear axes zoomed to the points (the axes' ranges are printed at their ends): every point a
/// circle with a hover title, the front's points filled, named and joined by a line in x order.
inline std::string svg_scatter(const std::string& title, const std::string& x_name, const std::string& y_name,
                               std::vector<ScatterPoint> points) {
  const double w = 620, h = 300, left = 70, top = 34, right = 160, bottom = 44;
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
  double x0 = points.front().x, x1 = x0, y0 = points.front().y, y1 = y0;
  for (const auto& p : points) {
    x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  }
  const double dx = (x1 - x0) > 0 ? (x1 - x0) * 0.06 : 1, dy = (y1 - y0) > 0 ? (y1 - y0) * 0.08 : 1;
  x0 -= dx, x1 += dx, y0 -= dy, y1 += dy;
  auto px = [&](double x) { return left + w * (x - x0) / (x1 - x0); };
  auto py = [&](double y) { return top + h - h * (y - y0) / (y1 - y0); };
  std::string s = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              left + w + right, top + h + bottom);
  s += fmt::format(R"(<text x="0" y="18" font-weight="bold">{}</text>)", html_escape(title));
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>)", left, top, w, h);
  s += fmt::format(R"(<text x="{}" y="{}">{:.3g}</text><text x="{}" y="{}" text-anchor="end">{:.3g}</text>)", left,
                   top + h + 16, x0, left + w, top + h + 16, x1);
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", left + w / 2, top + h + 36, html_escape(x_name));
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{:.4g}</text><text x="{}" y="{}" text-anchor="end">{:.4g}</text>)",
                   left - 6, top + h, y0, left - 6, top + 12, y1);
  s += fmt::format(R"svg(<text x="12" y="{}" transform="rotate(-90 12 {})" text-anchor="middle">{}</text>)svg", top + h / 2,
                   top + h / 2, html_escape(y_name));
  std::string line;
  for (const auto& p : points)
    if (p.front) line += fmt::format("{:.1f},{:.1f} ", px(p.x), py(p.y));
  if (!line.empty()) s += fmt::format(R"(<polyline points="{}" fill="none" stroke="#c0504d" stroke-width="2"/>)", line);
  for (const auto& p : points) {  // named when on the front (dominated points crowd each other: hover names them)
    s += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="5" fill="{}" stroke="#2a4d7a"><title>{}</title></circle>)",
                     px(p.x), py(p.y), p.front ? "#c0504d" : "#ffffff", html_escape(p.tooltip));
    if (p.front)
      s += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="11">{}</text>)", px(p.x) + 7, py(p.y) - 6,
                       html_escape(p.label));
  }
  return s + "</svg>";
}

}  // namespace detail

inline std::string render_markdown(const std::vector<nlohmann::ordered_json>& records, const std::string& lang = "en") {
  const auto& t = lang == "zh" ? detail::kZh : detail::kEn;
  const auto rows = summarize(records);
  const auto sec = detail::build_sections(records, rows, t);
  std::string md = fmt::format("# {}\n", lang == "zh" ? "W4A16 训练后量化排行榜" : "W4A16 post-training quantization leaderboard");
  for (const auto& [title, table] : sec.tables) {
    md += fmt::format("\n## {}\n\n|", title);
    for (const auto& h : table.first) md += " " + detail::markdown_escape(h) + " |";
    md += "\n|";
    for (std::size_t i = 0; i < table.first.size(); ++i) md += "---|";
    md += "\n";
    for (const auto& r : table.second) {
      md += "|";
      for (const auto& c : r) md += " " + detail::markdown_escape(c) + " |";
      md += "\n";
    }
  }
  md += fmt::format("\n## {}\n\n", t.notes);
  for (const auto& n : sec.notes) md += "- " + n + "\n";
  return md;
}

/// The flat summaries' keys, in order (CSV header, JSON rows).
inline std::vector<std::string> summary_keys(const std::vector<nlohmann::ordered_json>& rows) {
  std::vector<std::string> keys;
  for (const auto& [k, _] : rows.front().items()) keys.push_back(k);
  return keys;
}

inline std::string render_csv(const std::vector<nlohmann::ordered_json>& records) {
  const auto rows = summarize(records);
  const auto keys = summary_keys(rows);
  auto quote = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out;
  for (std::size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i];
  out += "\n";
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& v = r[keys[i]];
      out += i ? "," : "";
      if (v.is_string()) out += quote(v.get<std::string>());
      else if (v.is_number_float()) out += fmt::format("{:.6g}", v.get<double>());
      else if (!v.is_null()) out += v.dump();
    }
    out += "\n";
  }
  return out;
}

inline std::string render_json(const std::vector<nlohmann::ordered_json>& records) {
  nlohmann::ordered_json j{{"schema", "ptq-leaderboard/1"}, {"rows", summarize(records)}};
  return j.dump(2) + "\n";
}

inline std::string render_html(const std::vector<nlohmann::ordered_json>& records, const std::string& lang = "en") {
  const auto& t = lang == "zh" ? detail::kZh : detail::kEn;
  const auto rows = summarize(records);
  const auto sec = detail::build_sections(records, rows, t);
  const std::string title = lang == "zh" ? "W4A16 训练后量化排行榜" : "W4A16 post-training quantization leaderboard";
  std::string h = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>"
      "body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:8px 0 20px}}"
      "th,td{{border:1px solid #bbb;padding:4px 8px;text-align:left}}th{{background:#eef}}"
      "svg{{font-size:13px;margin:8px 24px 16px 0}}"
      "</style></head><body>\n<h1>{}</h1>\n",
      lang, title, title);
  const nlohmann::ordered_json* base = nullptr;
  for (const auto& s : rows)
    if (s["row"] == "fp16" && s["status"] == "ok") base = &s;
  // PPL and accuracy bars: the change against FP16 when there is an FP16 row; else the values on a zoomed axis
  // whose origin the title states (bars from zero would draw PPL 503.7 and 506.6 the same).
  std::vector<std::pair<std::string, double>> ppl, acc;
  for (const auto& s : rows)
    if (s["status"] == "ok" && &s != base) {
      if (s["ppl"].is_number())
        ppl.push_back({s["label"], base ? 100 * (s["ppl"].get<double>() / (*base)["ppl"].get<double>() - 1)
                                        : s["ppl"].get<double>()});
      if (s["avg6"].is_number() && (!base || (*base)["avg6"].is_number()))
        acc.push_back({s["label"], base ? 100 * (s["avg6"].get<double>() - (*base)["avg6"].get<double>())
                                        : s["avg6"].get<double>()});
    }
  auto zoomed = [&](const char* chart, const std::vector<std::pair<std::string, double>>& bars, int digits) {
    if (bars.empty()) return std::string();
    if (base)
      return chart == t.chart_ppl ? detail::svg_bars(t.chart_ppl_change, bars, 2, 0, -1)
                                  : detail::svg_bars(t.chart_acc_change, bars, 2, 0, +1);
    double lo = bars.front().second, hi = lo;
    for (const auto& [_, v] : bars) lo = std::min(lo, v), hi = std::max(hi, v);
    const double origin = lo - 0.1 * (hi - lo > 0 ? hi - lo : std::fabs(lo) + 1);
    return detail::svg_bars(fmt::format("{} ({} {:.{}f})", chart, t.axis_from, origin, digits), bars, digits, origin);
  };
  h += "<div>" + zoomed(t.chart_ppl, ppl, 2) + zoomed(t.chart_acc, acc, 4) + "</div>\n";
  // The Pareto front of a sweep (combinations: means over their seeds).
  const auto combos = detail::combinations(rows);
  if (combos.size() > 1) {
    std::vector<detail::ScatterPoint> by_bits, by_bytes, acc_bits;
    for (const detail::Combination& c : combos) {
      const std::string tip =
          fmt::format("{}: {:.3f} bits/weight, {:.2f} MB, PPL {:.3f}{}{}", c.name, c.bits, c.mb, c.ppl,
                      c.seeds > 1 ? fmt::format(" ± {:.3f} over {} seeds", c.ppl_hi - c.ppl_lo, c.seeds) : "",
                      c.has_acc ? fmt::format(", mean acc {:.4f}", c.acc) : "");
      by_bits.push_back({c.bits, c.ppl, c.name, tip, c.front_bits});
      if (c.mb > 0) by_bytes.push_back({c.mb, c.ppl, c.name, tip, c.front_bytes});
      if (c.has_acc) acc_bits.push_back({c.bits, c.acc, c.name, tip, c.front_acc});
    }
    h += "<div>" + detail::svg_scatter(t.chart_front_bits, t.bits, t.ppl, by_bits);
    if (by_bytes.size() > 1) h += detail::svg_scatter(t.chart_front_bytes, t.weights, t.ppl, by_bytes);
    if (acc_bits.size() > 1) h += detail::svg_scatter(t.chart_front_acc, t.bits, t.acc_tasks, acc_bits);
    h += "</div>\n";
  }
  if (base) {
    std::vector<std::pair<std::string, double>> deltas;
    for (const auto& s : rows)
      if (&s != base && s["status"] == "ok")
        for (const auto& lt : kLeaderboardTasks) {
          const std::string k = fmt::format("{}_{}", lt.name, lt.metric);
          if (s[k].is_number() && (*base)[k].is_number())
            deltas.push_back({fmt::format("{} · {}", s["label"].get<std::string>(), lt.label),
                              100 * (s[k].get<double>() - (*base)[k].get<double>())});
        }
    if (!deltas.empty()) h += "<div>" + detail::svg_bars(t.chart_delta, deltas, 2, 0, +1) + "</div>\n";
  }
  for (const auto& [name, table] : sec.tables) {
    h += fmt::format("<h2>{}</h2>\n<table><tr>", detail::html_escape(name));
    for (const auto& c : table.first) h += "<th>" + detail::html_escape(c) + "</th>";
    h += "</tr>\n";
    for (const auto& r : table.second) {
      h += "<tr>";
      for (const auto& c : r) h += "<td>" + detail::html_escape(c) + "</td>";
      h += "</tr>\n";
    }
    h += "</table>\n";
  }
  h += fmt::format("<h2>{}</h2>\n<ul>", t.notes);
  for (const auto& n : sec.notes) h += "<li>" + detail::html_escape(n) + "</li>";
  return h + "</ul>\n</body></html>\n";
}

/// Renders `records` in `format` (md, csv, json, html).
inline std::string render_leaderboard(const std::vector<nlohmann::ordered_json>& records, const std::string& format,
                                      const std::string& lang = "en") {
  check(lang == "en" || lang == "zh", "", "--lang", "\"{}\" is not en or zh", lang);
  if (format == "md") return render_markdown(records, lang);
  if (format == "csv") return render_csv(records);
  if (format == "json") return render_json(records);
  if (format == "html") return render_html(records, lang);
  throw Error("", "--format", fmt::format("\"{}\" is not md, csv, json or html", format));
}

}  // namespace ptq
