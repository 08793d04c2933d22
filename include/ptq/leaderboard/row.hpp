/// @file One leaderboard row as a program: quantize (when the row has a method), evaluate, write the record.
///
///   int main(int argc, char** argv) {
///     return ptq::run_row(argc, argv, ptq::row_of<ptq::W4G128Sym>("gptq", ptq::Gptq{}));
///   }
///
/// Steps: load the model; quantize with the row's scheme and algorithm on WikiText-2 validation calibration
/// (per-layer resume checkpoints in <results>/models/<key>.partial) and save the packed checkpoint to
/// <results>/models/<key>; evaluate that checkpoint (FP16: the original) in a fresh child process, which measures
/// the resident memory its model load added (model_rss_bytes) and its peak resident memory while loading and
/// evaluating (peak_rss_bytes); write <results>/<key>.json
/// atomically (a failed row writes a record with status "failed" and the error).
/// Crash safety: a row killed at any point and run again with the same command resumes: finished layers from
/// <results>/models/<key>.partial, finished evaluation steps (perplexity, each task) from <results>/<key>.eval.partial;
/// both are removed once the record is written. The numbers are those of an uninterrupted run.
/// Evaluation: WikiText-2 test perplexity (GPTQ protocol) and the six lm-eval tasks (record.hpp). Everything is
/// deterministic (fixed seeds, fixed reduction orders): the record's results_sha256 is the same on every run.
#pragma once

#include "ptq/core/memory.hpp"
#include "ptq/eval/wikitext.hpp"
#include "ptq/leaderboard/record.hpp"
#include "ptq/model/backend.hpp"
#include "ptq/model/save.hpp"
#include "ptq/pipeline/quantize.hpp"

#include <CLI/CLI.hpp>
#include <omp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

extern char** environ;

namespace ptq {

/// What a row is: its key (the record's file name and leaderboard key), label, scheme and algorithm.
struct RowSpec {
  std::string key;                 // "fp16", "rtn", "awq", "gptq", or a researcher's own
  std::string label;               // shown in the leaderboard
  std::optional<Method> method;    // none: the unquantized baseline
  QuantSpec spec;
  GptqParams gptq;
  AwqParams awq;
  std::optional<CalibrationParams> calibration;  // default: the method's (default_calibration)
  std::string combination;         // a sweep's (method, scheme, act-order) that rows of several seeds share; "": key
  std::optional<MixedParams> mixed;  // mixed precision: a scheme per linear under a bit budget (`spec` unused)
};

/// A quantized row: a scheme type × an algorithm type (Rtn, Gptq, Awq, carrying its parameters).
template <QuantSchemeLike Scheme, Algorithm Alg>
RowSpec row_of(std::string key, const Alg& algorithm, std::string label = "") {
  RowSpec r{std::move(key), std::move(label), Alg::method, spec_of<Scheme>(), {}, {}, {}, {}, {}};
  if constexpr (std::is_same_v<Alg, Gptq>) r.gptq = algorithm.params;
  if constexpr (std::is_same_v<Alg, Awq>) r.awq = algorithm.params;
  if (r.label.empty()) r.label = fmt::format("{} ({})", method_name(Alg::method), config_name(r.spec));
  return r;
}

/// The unquantized baseline row: the model as stored.
inline RowSpec baseline_row(std::string key, std::string label) {
  return {std::move(key), std::move(label), std::nullopt, {}, {}, {}, {}, {}, {}};
}

/// A mixed-precision row: an algorithm type with a scheme per linear, chosen from `candidates` under `budget_bits`
/// bits per weight (pipeline/mixed.hpp).
///   ptq::mixed_row("gptq_mix3.6", ptq::Gptq{}, {3.6, {ptq::spec_of<ptq::W3G128Asym>(), ptq::spec_of<ptq::W4G128Sym>()}});
template <Algorithm Alg>
RowSpec mixed_row(std::string key, const Alg& algorithm, MixedParams mixed, std::string label = "") {
  RowSpec r{std::move(key), std::move(label), Alg::method, {}, {}, {}, {}, {}, std::move(mixed)};
  if constexpr (std::is_same_v<Alg, Gptq>) r.gptq = algorithm.params;
  if constexpr (std::is_same_v<Alg, Awq>) r.awq = algorithm.params;
  if (r.label.empty()) r.label = fmt::format("{} ({})", method_name(Alg::method), mixed_name(*r.mixed));
  return r;
}

/// Where and how much to evaluate (the command line of every row binary).
struct RowOptions {
  std::string model = "../shared/models/qwen2-micro";
  std::string data_dir = "../shared/data";
  std::string results = "results";
  std::int64_t ppl_seqlen = 2048;
  std::int64_t ppl_windows = 0;          // 0: the whole test set
  std::size_t limit = 0;                 // docs per task (MMLU: per subject); 0: all
  int mmlu_fewshot = 0;
  std::string tasks = "mmlu,hellaswag,arc_easy,arc_challenge,piqa,winogrande";
  int nsamples = 0, calib_seqlen = 0;    // 0: the method's default
  std::string calib;                     // calibration text (default: <data_dir>/wikitext-2-raw-v1/validation.jsonl)
  std::string calib_ids;                 // or token windows as data (int32, as `ptq tokenize` writes): the first ones
  std::optional<std::uint64_t> calib_seed;  // random windows' seed (default: the row's, 0)
  std::string calib_windows;             // random | first (default: the row's, random)
  std::int64_t batch_tokens = 2048;
  std::string device = "cpu";            // where the evaluation runs: cpu | cuda
  bool keep_checkpoint = true;           // keep <results>/models/<key> after the record is written
  std::string kernels;                   // cuda: the packed products' kernel configuration ("": the default)
  bool progress = true;
  // Internal: the evaluation child.
  std::string evaluate_dir, evaluate_out;
};

namespace detail {

inline void add_row_options(CLI::App& app, RowOptions& o) {
  app.add_option("--model", o.model, "Hugging Face model folder or cache entry")->capture_default_str();
  app.add_option("--data-dir", o.data_dir, "Evaluation data (../shared/data layout)")->capture_default_str();
  app.add_option("--results", o.results, "Results folder (records, quantized checkpoints)")->capture_default_str();
  app.add_option("--ppl-seqlen", o.ppl_seqlen, "WikiText-2 window (GPTQ protocol)")->capture_default_str();
  app.add_option("--ppl-windows", o.ppl_windows, "Score only the first K windows (0: all)")->capture_default_str();
  app.add_option("--limit", o.limit, "Docs per task, per MMLU subject (0: all)")->capture_default_str();
  app.add_option("--mmlu-fewshot", o.mmlu_fewshot, "MMLU few-shot examples")->capture_default_str();
  app.add_option("--tasks", o.tasks, "Comma-separated lm-eval tasks, or none")->capture_default_str();
  app.add_option("--nsamples", o.nsamples, "Calibration windows (0: the method's default, 128)");
  app.add_option("--calib-seqlen", o.calib_seqlen, "Calibration window length (0: GPTQ 2048, AWQ 512)");
  app.add_option("--calib", o.calib, "Calibration text (default: <data-dir>/wikitext-2-raw-v1/validation.jsonl)");
  app.add_option("--calib-ids", o.calib_ids,
                 "Calibration token windows as data: int32 ids as `ptq tokenize` writes, cut into --nsamples windows "
                 "of --calib-seqlen from the start");
  app.add_option("--calib-seed", o.calib_seed, "Seed of the random calibration windows (default 0)");
  app.add_option("--calib-windows", o.calib_windows, "random | first (consecutive windows from the start)");
  app.add_option("--batch-tokens", o.batch_tokens, "Tokens per forward pass")->capture_default_str();
  app.add_option("--device", o.device, "Where the model is evaluated: cpu | cuda (bf16)")->capture_default_str();
  app.add_option("--kernels", o.kernels, "cuda: the packed products' kernel configuration (default: " +
                                             std::string(kModelKernelNames[0]) + ")");
  app.add_flag("!--no-progress", o.progress, "No progress lines");
  app.add_flag("!--discard-checkpoint", o.keep_checkpoint,
               "Remove the quantized checkpoint once the record is written (a sweep's default)");
  app.add_option("--evaluate-checkpoint", o.evaluate_dir)->group("");  // internal: the evaluation child
  app.add_option("--eval-out", o.evaluate_out)->group("");
}

inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos <= s.size();) {
    const std::size_t end = std::min(s.find(',', pos), s.size());
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

/// What must match for an evaluation to resume from another's finished steps: the checkpoint (its config.json and
/// the names and sizes of its safetensors files) and every setting that changes a number.
inline std::string eval_fingerprint(const fs::path& dir, const RowOptions& o) {
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files[e.path().filename().string()] = e.file_size();
  const nlohmann::ordered_json j{{"checkpoint", fs::absolute(dir).lexically_normal().string()},
                                 {"config_sha256", sha256_hex(read_text_file(dir / "config.json"))},
                                 {"files", files},
                                 {"data_dir", fs::absolute(o.data_dir).lexically_normal().string()},
                                 {"ppl_seqlen", o.ppl_seqlen}, {"ppl_windows", o.ppl_windows},
                                 {"limit", o.limit}, {"mmlu_fewshot", o.mmlu_fewshot}, {"batch_tokens", o.batch_tokens},
                                 {"device", o.device}, {"kernels", parse_model_kernels(o.kernels)},
                                 {"matmul", ref::matmul_path_name(ref::matmul_path())}};
  return j.dump(2) + "\n";
}

/// The finished steps (perplexity, each task) of an evaluation: <dir>/<step>.json, each written atomically when the
/// step ends, and <dir>/run.json fingerprinting the run (eval_fingerprint); a rerun after a crash loads them instead
/// of computing them again. Steps are deterministic, so a resumed evaluation gives the same numbers.
class EvalSteps {
 public:
  EvalSteps(fs::path dir, const std::string& fingerprint) : dir_(std::move(dir)) {
    const fs::path run = dir_ / "run.json";
    if (fs::exists(run) && read_text_file(run) != fingerprint) fs::remove_all(dir_);  // another run's steps: stale
    fs::create_directories(dir_);
    if (!fs::exists(run)) write_file_atomic(run, [&](std::ostream& s) { s << fingerprint; });
  }
  /// The step's result: loaded when an earlier run finished it, else computed by f() and saved.
  template <class F>
  nlohmann::ordered_json step(const std::string& name, F&& f) {
    const fs::path file = dir_ / (name + ".json");
    if (fs::exists(file)) {
      ++resumed_;
      return nlohmann::ordered_json::parse(read_text_file(file));
    }
    nlohmann::ordered_json j = f();
    write_file_atomic(file, [&](std::ostream& s) { s << j.dump(); });
    return j;
  }
  [[nodiscard]] int resumed() const { return resumed_; }

 private:
  fs::path dir_;
  int resumed_ = 0;
};

/// Perplexity and tasks of the checkpoint in `dir` on `o.device`, with this process's peak memory (the child's job);
/// finished steps are kept in `steps_dir` (EvalSteps).
inline nlohmann::ordered_json evaluate_checkpoint(const fs::path& dir, const RowOptions& o, const fs::path& steps_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  const Device device = parse_device(o.device);
  const std::size_t rss_before = current_rss_bytes();
  const auto model = Qwen2Model::load(dir);  // every weight is read (finite check): all of it resident
  const std::size_t model_rss = current_rss_bytes() - rss_before;
  const auto tok = Tokenizer::load(model.dir());
  const ScoringOptions scoring{o.batch_tokens, o.progress};
  EvalSteps steps(steps_dir, eval_fingerprint(model.dir(), o));
  nlohmann::ordered_json j;
  with_device(model, device, [&](auto& m) {
    j["ppl"] = steps.step("ppl", [&] {
      const auto ids = tok.encode(read_corpus(fs::path(o.data_dir) / "wikitext-2-raw-v1/test.jsonl"));
      const PerplexityResult p = perplexity_gptq(m, ids, o.ppl_seqlen, o.ppl_windows, scoring);
      const auto total = static_cast<std::int64_t>(ids.size()) / o.ppl_seqlen;
      return nlohmann::ordered_json{{"value", p.ppl},           {"protocol", "gptq"}, {"dataset", "wikitext-2-raw-v1 test"},
                                    {"seqlen", p.seqlen},       {"windows", p.windows}, {"windows_available", total},
                                    {"tokens", p.tokens},       {"limited", p.windows < total}};
    });
    EvalOptions eo;
    eo.max_length = model.config().max_position_embeddings;
    eo.limit = o.limit;
    eo.scoring = scoring;
    j["tasks"] = nlohmann::ordered_json::object();
    for (const auto& name : o.tasks == "none" ? std::vector<std::string>{} : split_list(o.tasks))
      j["tasks"][name] = steps.step("task_" + name, [&] {
        const auto t = std::chrono::steady_clock::now();
        const TaskData data = load_task(name, o.data_dir, o.mmlu_fewshot);
        const TaskResult r = evaluate_task(m, tok, data, eo);
        std::string_view headline = "acc";
        for (const auto& lt : kLeaderboardTasks)
          if (lt.name == name) headline = lt.metric;
        nlohmann::ordered_json jt =
            task_json(r, data, headline, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
        if (name == "mmlu") jt["num_fewshot"] = o.mmlu_fewshot;
        return jt;
      });
    const std::size_t weight_bytes = model_weight_bytes(model);
    j["memory"] = {{"model_rss_bytes", model_rss}, {"peak_rss_bytes", peak_rss_bytes()}, {"weight_bytes", weight_bytes}};
    j["bits_per_weight"] = linear_bits_per_weight(model);
    j["model_bytes"] = weight_bytes;
    if constexpr (std::is_same_v<std::decay_t<decltype(m)>, GpuModel>) {
      const DeviceMemory dm = m.memory();  // the VRAM columns: what the model holds on the GPU and the most in use
      j["memory"]["device"] = {{"name", dm.device}, {"model_bytes", dm.model_bytes}, {"peak_bytes", dm.peak_bytes},
                               {"weight_bytes", dm.weight_bytes}};
    }
  }, o.kernels);
  j["device"] = o.device;
  if (device == Device::kCuda) j["kernels"] = parse_model_kernels(o.kernels);
  j["eval_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  j["eval_resumed_steps"] = steps.resumed();
  return j;
}

/// The calibration a row uses: its own (or its method's default), with the command line's sizes and windows; token
/// windows given as data (--calib-ids) are taken as stored, from the start.
inline CalibrationParams row_calibration(const RowSpec& row, const RowOptions& o) {
  CalibrationParams cp = row.calibration.value_or(default_calibration(*row.method));
  if (o.nsamples) cp.nsamples = o.nsamples;
  if (o.calib_seqlen) cp.seqlen = o.calib_seqlen;
  if (o.calib_seed) cp.seed = *o.calib_seed;
  check(o.calib_windows.empty() || o.calib_windows == "random" || o.calib_windows == "first", "", "--calib-windows",
        "\"{}\" is not random or first", o.calib_windows);
  if (!o.calib_windows.empty()) cp.first = o.calib_windows == "first";
  if (!o.calib_ids.empty()) cp.first = true;
  return cp;
}

/// Where the evaluation child of <results>/<key>.eval.json keeps its finished steps: <results>/<key>.eval.partial.
inline fs::path eval_steps_dir(const fs::path& eval_out) { return fs::path(eval_out).replace_extension(".partial"); }

/// Runs `program` with `args` (args[0] is its name) and waits; its exit status, or -1 when it did not exit (a signal).
inline int run_process(const fs::path& program, std::vector<std::string> args) {
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = 0;
  check(posix_spawn(&pid, program.c_str(), nullptr, nullptr, cargs.data(), environ) == 0, program.string(), "",
        "cannot start the process");
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Runs this program again as the evaluation child for `dir`; returns its result.
inline nlohmann::ordered_json evaluate_in_child(const fs::path& dir, int argc, char** argv, const fs::path& out) {
  std::vector<std::string> args(argv, argv + argc);
  args.insert(args.end(), {"--evaluate-checkpoint", dir.string(), "--eval-out", out.string()});
  const int status = run_process("/proc/self/exe", std::move(args));
  check(status == 0, dir.string(), "evaluate", "the evaluation process failed (exit status {}); its error is printed above",
        status);
  return nlohmann::ordered_json::parse(read_text_file(out));
}

}  // namespace detail

/// run_row with the options already parsed (a program that builds its row from the command line: `ptq row`); the
/// evaluation child is this program again with the same arguments.
inline int run_row(int argc, char** argv, const RowSpec& row, const RowOptions& o) {
  if (!o.evaluate_dir.empty()) {  // the evaluation child
    try {
      const auto j = detail::evaluate_checkpoint(o.evaluate_dir, o, detail::eval_steps_dir(o.evaluate_out));
      write_file_atomic(o.evaluate_out, [&](std::ostream& s) { s << j.dump(); });
      return 0;
    } catch (const std::exception& e) {
      fmt::print(stderr, "ptq: error: {}\n", e.what());
      return 2;
    }
  }

  try {  // refused at once, before a long quantization
    parse_model_kernels(o.kernels);
    ref::matmul_path();  // PTQ_MATMUL
    if (parse_device(o.device) == Device::kCuda && row.method) {
      check(!row.mixed, "", "--device", "a mixed-precision row runs on the CPU (the GPU model and quantizers are "
            "instantiated for one scheme)");
      require_instantiated(row.spec, "--device cuda");
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "ptq: error: {}\n", e.what());
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path results = o.results;
  fs::create_directories(results / "models");
  const std::size_t threads = static_cast<std::size_t>(omp_get_max_threads());
  nlohmann::ordered_json rec{{"schema", kRecordSchema}, {"row", row.key}, {"label", row.label},
                             {"method", row.method ? method_name(*row.method) : "fp16"},
                             {"scheme", !row.method ? "bf16" : row.mixed ? mixed_name(*row.mixed) : config_name(row.spec)},
                             {"status", "running"}};
  if (row.mixed) {
    std::vector<std::string> candidates;
    for (const QuantSpec& c : row.mixed->candidates) candidates.push_back(config_name(c));
    rec["scheme_detail"] = {{"budget_bits", row.mixed->budget_bits}, {"candidates", candidates}};
  } else if (row.method) {
    rec["scheme_detail"] = {{"bits", row.spec.bits}, {"group_size", row.spec.group_size}, {"sym", row.spec.sym()}};
  }
  if (row.method) {
    if (!row.combination.empty()) rec["combination"] = row.combination;
    rec["params"] = *row.method == Method::kGptq ? fmt::format("{}", row.gptq)
                    : *row.method == Method::kAwq ? fmt::format("{}", row.awq) : "";
  }
  fmt::print("ptq row {} ({})\n  model {}\n  data {}\n  results {}\n  perplexity: WikiText-2 test, GPTQ protocol, seqlen "
             "{}, {} windows\n  tasks {} (limit {}; MMLU {}-shot)\n  threads {}, evaluation on {}\n  CPU products {}\n",
             row.key, row.label, o.model, o.data_dir, (results / (row.key + ".json")).string(), o.ppl_seqlen,
             o.ppl_windows ? std::to_string(o.ppl_windows) : "all", o.tasks, o.limit ? std::to_string(o.limit) : "none",
             o.mmlu_fewshot, threads, o.device, ref::matmul_path_info());
  std::vector<fs::path> partial;  // resume state of this row, removed once its record is written
  try {
    const fs::path model_dir = resolve_model_dir(o.model);
    rec["model"] = {{"path", model_dir.string()}, {"name", model_dir.filename().string()}};
    fs::path eval_dir = model_dir;
    if (row.method) {
      auto model = Qwen2Model::load(model_dir);
      QuantizeOptions q;
      q.method = *row.method;
      q.spec = row.spec;
      q.mixed = row.mixed;
      q.gptq = row.gptq;
      q.awq = row.awq;
      q.progress = o.progress;
      q.device = parse_device(o.device);
      eval_dir = results / "models" / row.key;
      q.resume_dir = eval_dir.string() + ".partial";
      std::vector<std::vector<std::int32_t>> calib;
      if (q.method != Method::kRtn || q.mixed) {
        const CalibrationParams cp = detail::row_calibration(row, o);
        const fs::path file = !o.calib_ids.empty() ? fs::path(o.calib_ids)
                              : !o.calib.empty()   ? fs::path(o.calib)
                                                   : fs::path(o.data_dir) / "wikitext-2-raw-v1/validation.jsonl";
        fmt::print("  calibration {}: {} x {} tokens, {}\n", file.string(), cp.nsamples, cp.seqlen,
                   cp.first ? std::string("the first windows") : fmt::format("random windows, seed {}", cp.seed));
        calib = calibration_windows(o.calib_ids.empty() ? Tokenizer::load(model_dir).encode(read_corpus(file))
                                                        : read_token_ids(file),
                                    cp);
        Sha256 ids;
        for (const auto& w : calib) ids.update(w.data(), w.size() * sizeof(w[0]));
        rec["calibration"] = {{"file", file.string()},  {"nsamples", cp.nsamples}, {"seqlen", cp.seqlen},
                              {"seed", cp.seed},         {"windows", cp.first ? "first" : "random"},
                              {"ids_sha256", ids.hex()}};
      }
      const QuantizeReport rep = quantize_model(model, q, calib);
      fs::remove_all(eval_dir);
      save_quantized(model, eval_dir, {{"method", std::string(method_name(q.method))}, {"row", row.key}});
      partial.push_back(q.resume_dir);  // kept until the record is written: a crash in evaluation resumes every layer
      if (!o.keep_checkpoint) partial.push_back(eval_dir);
      rec["quantization"] = {{"seconds", rep.seconds},           {"resumed_layers", rep.resumed_layers},
                             {"device", rep.device},             {"peak_device_bytes", rep.peak_device_bytes},
                             {"peak_rss_bytes", peak_rss_bytes()}, {"linear_bytes_before", rep.bytes_before},
                             {"linear_bytes_after", rep.bytes_after},
                             {"checkpoint", o.keep_checkpoint ? nlohmann::ordered_json(eval_dir.string()) : nullptr}};
      if (rep.mixed) rec["quantization"]["mixed"] = mixed_json(*rep.mixed);
    }
    const fs::path eval_out = results / (row.key + ".eval.json");
    const auto ev = detail::evaluate_in_child(eval_dir, argc, argv, eval_out);
    fs::remove(eval_out);
    partial.push_back(detail::eval_steps_dir(eval_out));
    for (const char* k : {"device", "ppl", "tasks", "memory", "bits_per_weight", "model_bytes", "eval_seconds",
                          "eval_resumed_steps"})
      rec[k] = ev[k];
    if (ev.contains("kernels")) rec["kernels"] = ev["kernels"];
    rec["averages"] = averages_json(rec["tasks"]);
    rec["status"] = "ok";
  } catch (const std::exception& e) {
    rec["status"] = "failed";
    rec["error"] = e.what();
    fmt::print(stderr, "ptq: error: {}\n", e.what());
  }
  rec["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec["settings"] = {{"ppl_seqlen", o.ppl_seqlen}, {"ppl_windows", o.ppl_windows}, {"limit", o.limit},
                     {"mmlu_fewshot", o.mmlu_fewshot}, {"tasks", o.tasks}, {"batch_tokens", o.batch_tokens},
                     {"device", o.device}};
  rec["reproducibility"] = {{"deterministic", true},
                            {"note", "fixed calibration seed; fixed reduction orders: the same numbers for any run "
                                     "and any thread count with the same ptq build, the same BLAS kernel "
                                     "(environment.blas) and the same product path (environment.matmul: f32 or "
                                     "bf16); another CPU's kernels round float32 sums otherwise, and the bf16 path "
                                     "rounds the linears' operands: within the tolerances of docs/reliability.md"},
                            {"results_sha256", results_digest(rec)}};
  std::string gpu;  // the GPU's name, when the evaluation ran on one
  if (rec.contains("memory") && rec["memory"].contains("device")) gpu = rec["memory"]["device"].value("name", "");
  rec["environment"] = environment_json(static_cast<int>(threads), o.device, gpu);
  write_file_atomic(results / (row.key + ".json"), [&](std::ostream& s) { s << rec.dump(2) << "\n"; });
  if (rec["status"] == "ok") {
    for (const fs::path& p : partial) fs::remove_all(p);
    fmt::print("{}: ppl {:.4f}, avg6 {}; wrote {}\n", row.key, rec["ppl"]["value"].get<double>(),
               rec["averages"]["avg6"].is_number() ? fmt::format("{:.4f}", rec["averages"]["avg6"].get<double>()) : "—",
               (results / (row.key + ".json")).string());
  }
  return rec["status"] == "ok" ? 0 : 1;
}

/// main() of a row binary: parses the options, runs the row, writes its record. Exit 0 on success, 1 if the row
/// failed (its record says why), 2 on bad options or input (an unknown --device, or cuda without a CUDA device).
inline int run_row(int argc, char** argv, const RowSpec& row) {
  CLI::App app{fmt::format("ptq leaderboard row \"{}\": {}", row.key, row.label)};
  RowOptions o;
  detail::add_row_options(app, o);
  CLI11_PARSE(app, argc, argv);
  return run_row(argc, argv, row, o);
}

}  // namespace ptq
