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
  return rows;
}

namespace detail {

struct Strings {
  const char *overview, *tasks, *acc_both, *mmlu, *averages, *failed, *environment, *rank, *method, *scheme, *ppl,
      *avg, *dppl, *dacc, *device, *model_mem, *rss, *weights, *qtime, *wall, *status, *error, *key, *value, *notes, *mmlu_all, *stem,
      *humanities, *social, *other, *avg6, *avg6_acc, *rows_avg, *chart_ppl, *chart_acc, *chart_delta;
};

inline constexpr Strings kEn{
    "Overview", "Tasks (headline metric, ± standard error; change against FP16 in parentheses)",
    "acc and acc_norm", "MMLU by category (acc)", "Averages", "Failed rows", "Environment", "Rank", "Method",
    "Scheme", "WikiText-2 PPL", "Avg acc (6 tasks)", "ΔPPL vs FP16", "ΔAcc vs FP16", "Device", "Model memory (MB)", "Peak memory (MB)",
    "Weights (MB)", "Quant time (s)", "Wall time (s)", "Status", "Error", "Item", "Value", "Notes", "MMLU", "STEM",
    "Humanities", "Social sciences", "Other", "avg6 (headline metrics)", "avg6_acc (acc everywhere)",
    "lm_eval_rows (the original table's style)", "WikiText-2 perplexity (lower is better)",
    "Average accuracy over the six tasks", "Per-task change against FP16 (points)"};

inline constexpr Strings kZh{
    "总览", "各任务结果（主指标 ± 标准误；括号内为相对 FP16 的变化）", "acc 与 acc_norm", "MMLU 分类结果（acc）", "平均值",
    "失败的条目", "运行环境", "排名", "方法", "量化方案", "WikiText-2 困惑度", "平均准确率（6 项任务）", "困惑度变化（相对 FP16）",
    "准确率变化（相对 FP16）", "设备", "模型内存 (MB)", "峰值内存 (MB)", "权重大小 (MB)", "量化耗时 (秒)", "总耗时 (秒)", "状态", "错误", "项目", "值", "说明",
    "MMLU", "理工科 (STEM)", "人文 (Humanities)", "社会科学 (Social sciences)", "其他 (Other)", "avg6（主指标平均）",
    "avg6_acc（均用 acc）", "lm_eval_rows（原表口径）", "WikiText-2 困惑度（越低越好）", "六项任务平均准确率", "各任务相对 FP16 的变化（百分点）"};

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

/// Horizontal bar chart: one bar per (label, value), value printed at the bar's end.
inline std::string svg_bars(const std::string& title, const std::vector<std::pair<std::string, double>>& bars,
                            int digits) {
  const int row = 28, left = 330, width = 420, top = 30;
  double hi = 0;
  for (const auto& [_, v] : bars) hi = std::max(hi, std::fabs(v));
  if (hi == 0) hi = 1;
  std::string s = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              left + width + 90, top + row * static_cast<int>(bars.size()) + 10);
  s += fmt::format(R"(<text x="0" y="18" font-weight="bold">{}</text>)", html_escape(title));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    const double w = width * std::fabs(bars[i].second) / hi;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", left - 8, y + 17, html_escape(bars[i].first));
    s += fmt::format(R"(<rect x="{}" y="{}" width="{:.1f}" height="20" fill="{}"/>)", left, y + 3, w,
                     bars[i].second < 0 ? "#c0504d" : "#4f81bd");
    s += fmt::format(R"(<text x="{:.1f}" y="{}">{:.{}f}</text>)", left + w + 6, y + 17, bars[i].second, digits);
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
  std::vector<std::pair<std::string, double>> ppl, acc;
  for (const auto& s : rows)
    if (s["status"] == "ok") {
      if (s["ppl"].is_number()) ppl.push_back({s["label"], s["ppl"].get<double>()});
      if (s["avg6"].is_number()) acc.push_back({s["label"], s["avg6"].get<double>()});
    }
  h += "<div>" + detail::svg_bars(t.chart_ppl, ppl, 2) + detail::svg_bars(t.chart_acc, acc, 4) + "</div>\n";
  const nlohmann::ordered_json* base = nullptr;
  for (const auto& s : rows)
    if (s["row"] == "fp16" && s["status"] == "ok") base = &s;
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
    h += "<div>" + detail::svg_bars(t.chart_delta, deltas, 2) + "</div>\n";
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
