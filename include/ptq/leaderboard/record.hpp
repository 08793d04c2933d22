/// @file One leaderboard row's result record (JSON, schema "ptq-leaderboard-row/1"): what was measured, how,
/// and the averages, each defined here.
///
/// Tasks and their headline metric (the leaderboard's): MMLU acc, HellaSwag acc_norm, ARC-Easy acc,
/// ARC-Challenge acc_norm, PIQA acc, Winogrande acc. Every task also records acc and, where lm-eval reports it,
/// acc_norm, each with its standard error.
/// Averages:
///   avg6      mean of the six headline metrics (the leaderboard's "avg acc")
///   avg6_acc  mean of the six tasks' acc (what the original table's HellaSwag / ARC-C columns actually hold)
///   lm_eval_rows  the original table's own style: the mean of every metric row lm-eval 0.4 prints for these
///             tasks: arc_easy, arc_challenge, hellaswag, piqa (acc and acc_norm rows each), winogrande (acc), mmlu,
///             its 4 categories and its 57 subjects (acc): 71 rows with full MMLU
#pragma once

#include "ptq/core/cpu.hpp"
#include "ptq/core/sha256.hpp"
#include "ptq/eval/harness.hpp"
#include "ptq/eval/perplexity.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/kernels/ref/matmul_path.hpp"
#include "ptq/model/qwen2.hpp"

#include <nlohmann/json.hpp>
#include <sys/utsname.h>

#include <array>
#include <chrono>
#include <ctime>
#include <fstream>
#include <string>
#include <string_view>

#ifndef PTQ_VERSION
#define PTQ_VERSION "unknown"
#endif

namespace ptq {

inline constexpr std::string_view kRecordSchema = "ptq-leaderboard-row/1";

struct LeaderboardTask {
  std::string_view name;    // lm-eval task name, also the record key
  std::string_view metric;  // headline metric
  std::string_view label;   // column heading
};
inline constexpr std::array<LeaderboardTask, 6> kLeaderboardTasks{{{"mmlu", "acc", "MMLU"},
                                                                  {"hellaswag", "acc_norm", "HellaSwag"},
                                                                  {"arc_easy", "acc", "ARC-E"},
                                                                  {"arc_challenge", "acc_norm", "ARC-C"},
                                                                  {"piqa", "acc", "PIQA"},
                                                                  {"winogrande", "acc", "Winogrande"}}};
inline constexpr std::array<std::string_view, 4> kMmluCategories{"stem", "humanities", "social_sciences", "other"};

inline nlohmann::ordered_json metric_json(const MetricValue& m) {
  return {{"value", m.value}, {"stderr", m.stderr_}, {"n", m.n}};
}

/// A task's entry: acc / acc_norm with stderr, sizes (scored vs available: "limited"), MMLU categories and subjects.
inline nlohmann::ordered_json task_json(const TaskResult& r, const TaskData& data, std::string_view headline,
                                        double seconds) {
  nlohmann::ordered_json j{{"metric", headline}};
  for (const char* m : {"acc", "acc_norm"})
    if (r.metrics.count(m)) j[m] = metric_json(r.metrics.at(m));
  j["n"] = r.docs.size();
  j["n_available"] = r.docs_available;
  j["limited"] = r.docs.size() < r.docs_available;
  j["skipped_rows"] = r.skipped.size();
  j["data"] = r.data;
  j["seconds"] = seconds;
  if (r.task == "mmlu") {
    for (std::string_view c : kMmluCategories) {
      const auto key = "acc/" + std::string(c);
      if (r.metrics.count(key)) j["categories"][std::string(c)] = metric_json(r.metrics.at(key));
    }
    std::map<std::string, std::pair<std::size_t, std::size_t>> subjects;  // correct, total
    for (const auto& d : r.docs) {
      auto& s = subjects[data.docs[d.doc].subject];
      s.first += d.acc;
      ++s.second;
    }
    for (const auto& [s, ct] : subjects)
      j["subjects"][s] = {{"value", static_cast<double>(ct.first) / static_cast<double>(ct.second)}, {"n", ct.second}};
  }
  return j;
}

/// The averages of the file comment, over the tasks present (each null unless all six tasks are there).
inline nlohmann::ordered_json averages_json(const nlohmann::ordered_json& tasks) {
  nlohmann::ordered_json a{{"avg6", nullptr}, {"avg6_acc", nullptr}, {"lm_eval_rows", nullptr}, {"lm_eval_rows_count", 0}};
  double head = 0, acc = 0, rows = 0;
  int rows_n = 0;
  for (const auto& t : kLeaderboardTasks) {
    if (!tasks.contains(t.name)) return a;
    const auto& j = tasks[std::string(t.name)];
    head += j[std::string(t.metric)]["value"].get<double>();
    acc += j["acc"]["value"].get<double>();
    for (const char* m : {"acc", "acc_norm"})
      if (j.contains(m)) rows += j[m]["value"].get<double>(), ++rows_n;
    if (t.name == "mmlu")
      for (const char* part : {"categories", "subjects"})
        if (j.contains(part))
          for (const auto& [_, v] : j[part].items()) rows += v["value"].get<double>(), ++rows_n;
  }
  a["avg6"] = head / kLeaderboardTasks.size();
  a["avg6_acc"] = acc / kLeaderboardTasks.size();
  a["lm_eval_rows"] = rows / rows_n;
  a["lm_eval_rows_count"] = rows_n;
  return a;
}

/// sha256 of the row's numbers (perplexity, every task metric, averages): equal digests, bitwise equal results.
inline std::string results_digest(const nlohmann::ordered_json& record) {
  nlohmann::ordered_json numbers{{"ppl", record.value("ppl", nlohmann::ordered_json())},
                                 {"tasks", record.value("tasks", nlohmann::ordered_json())},
                                 {"averages", record.value("averages", nlohmann::ordered_json())}};
  for (auto& [_, t] : numbers["tasks"].items()) t.erase("seconds");
  return sha256_hex(numbers.dump());
}

/// Bytes of the weights the forward pass reads: stored dense tensors, packed linears, float32 norms and biases.
inline std::size_t model_weight_bytes(const Qwen2Model& m) {
  const Qwen2Weights& w = m.weights();
  std::size_t b = w.embed_tokens.nbytes() + w.norm.size() * 4;
  if (w.lm_head.data != w.embed_tokens.data) b += w.lm_head.nbytes();
  for (const auto& l : w.layers) {
    b += (l.input_layernorm.size() + l.post_attention_layernorm.size()) * 4;
    for_each_linear(l, [&](const char*, const Linear& lin) {
      b += (lin.packed ? lin.packed->nbytes() : lin.weight.nbytes()) + lin.bias.size() * 4;
    });
  }
  return b;
}

inline std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Where a row ran: ptq's version, the date, the evaluating device (cpu or cuda, and the GPU's name when known), the
/// CPU, threads, OS, compiler, the BLAS kernel and the linears' product path (f32 or bf16, and what ran it).
inline nlohmann::ordered_json environment_json(int threads, std::string_view device, const std::string& gpu) {
  const CpuInfo cpu = cpu_info();
  utsname u{};
  uname(&u);
  nlohmann::ordered_json env{{"ptq_version", PTQ_VERSION},
                             {"date", utc_now()},
                             {"device", device},
                             {"cpu", cpu.name},
                             {"cpu_features", cpu.features},  // those that decide the product path
                             {"threads", threads},
                             {"os", fmt::format("{} {}", u.sysname, u.release)},
                             {"compiler", __VERSION__},
                             {"blas", openblas_get_config()},  // names the kernel OpenBLAS chose for this CPU
                             {"matmul", ref::matmul_path_info()}};
  if (!gpu.empty()) env["gpu"] = gpu;
  if (const std::uint64_t seed = ref::rounding_probe_seed(); seed != 0) env["rounding_probe"] = seed;
  return env;
}

}  // namespace ptq
