/// @file `ptq`: the command-line tool. Subcommands:
///   ptq info --model DIR      config, tensor counts and bytes of a Hugging Face Qwen2 checkpoint
///   ptq tokenize --tokenizer DIR (--input FILE | --jsonl FILE [--field text] [--join "\n\n"])
///                [--ids-out FILE]             token ids (int32 little-endian), count printed
///   ptq tokenize --tokenizer DIR --decode --input IDS_FILE [--text-out FILE]
///   ptq ppl --model DIR --data FILE --protocol gptq|lm-eval --seqlen N [--max-windows K] [--json]
///   ptq quantize --model DIR --method rtn|gptq|awq --bits B --group G --sym|--asym [--calib FILE --nsamples N
///                --seqlen L --seed S] [--act-order] [--format native|gptq|awq] --out DIR [--json]
///   ptq export --model QUANTIZED_DIR --format native|gptq|awq --out DIR
///   ptq leaderboard --results DIR [--format md|csv|json|html] [--lang en|zh] [--out FILE]
///   ptq eval --model DIR --tasks LIST --data-dir DIR [--limit N] [--num-fewshot K] [--json] [--log-samples FILE]
///   ptq row --method fp16|rtn|gptq|awq --scheme NAME [--act-order] --key KEY [row options]   one leaderboard row
///   ptq sweep --model DIR --methods LIST --schemes LIST [--act-order off|on|both] [--seeds K] --out DIR [--plan]
/// Errors in inputs are reported as "file: item: problem" with exit code 2.
#include "ptq/eval/harness.hpp"
#include "ptq/eval/wikitext.hpp"
#include "ptq/model/llama2c.hpp"
#include "ptq/model/save.hpp"
#include "ptq/core/memory.hpp"
#include "ptq/leaderboard/render.hpp"
#include "ptq/leaderboard/sweep.hpp"
#include "ptq/pipeline/quantize.hpp"
#include "ptq/tokenizer/tokenizer.hpp"
#include "ptq/model/backend.hpp"
#include "ptq/model/qwen2.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <map>

namespace {

namespace fs = std::filesystem;
using ptq::peak_rss_bytes;
using ptq::read_corpus;

int run_info(const std::string& model_path, bool check_finite) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto model = ptq::Qwen2Model::load(model_path, {.check_finite = check_finite});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& c = model.config();
  fmt::print("model: {}\nconfig: {}\n", ptq::resolve_model_dir(model_path).string(), c);
  std::map<std::string_view, std::int64_t> params;
  const auto& w = model.weights();
  params[ptq::dtype_name(w.embed_tokens.dtype)] += w.embed_tokens.numel();
  if (!c.tie_word_embeddings) params[ptq::dtype_name(w.lm_head.dtype)] += w.lm_head.numel();
  std::int64_t linear = 0;
  for (const auto& l : w.layers)
    ptq::for_each_linear(l, [&](const char*, const ptq::Linear& lin) {
      params[ptq::dtype_name(lin.weight.dtype)] += lin.weight.numel();
      linear += lin.weight.numel();
    });
  for (const auto& [dtype, n] : params) fmt::print("parameters {}: {:.3f} M\n", dtype, n / 1e6);
  fmt::print("linear-layer parameters (quantizable): {:.3f} M in {} layers\n", linear / 1e6, w.layers.size() * 7);
  fmt::print("loaded in {:.2f} s{}\n", secs, check_finite ? " (every weight checked finite)" : "");
  return 0;
}

/// "\\n" -> newline, "\\t" -> tab, "\\\\" -> backslash: lets --join "\n\n" be typed in a shell.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) { out += s[i]; continue; }
    const char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
  }
  return out;
}

struct TokenizeArgs {
  std::string tokenizer, input, jsonl, field = "text", join = "\\n\\n", ids_out, text_out;
  bool decode = false;
};

int run_tokenize(const TokenizeArgs& a) {
  const auto tok = ptq::Tokenizer::load(a.tokenizer);
  if (a.decode) {
    const std::string text = tok.decode(ptq::read_token_ids(a.input));
    if (a.text_out.empty()) fmt::print("{}", text);
    else ptq::write_file_atomic(a.text_out, [&](std::ostream& o) { o << text; });
    fmt::print(stderr, "{} bytes of text\n", text.size());
    return 0;
  }
  ptq::check(a.input.empty() != a.jsonl.empty(), "", "tokenize", "give exactly one of --input and --jsonl");
  const std::string text = a.input.empty() ? ptq::join_rows(ptq::read_jsonl_field(a.jsonl, a.field), unescape(a.join))
                                           : ptq::read_text_file(a.input);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.ids_out.empty())
    ptq::write_file_atomic(a.ids_out, [&](std::ostream& o) {
      o.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
    });
  fmt::print("{} ids from {} bytes ({:.2f} MB/s)\n", ids.size(), text.size(), text.size() / secs / 1e6);
  return 0;
}

/// The tokenizer of a model folder: its own tokenizer files, or `override` when given.
ptq::Tokenizer model_tokenizer(const std::string& model, const std::string& override_dir) {
  return ptq::Tokenizer::load(override_dir.empty() ? ptq::resolve_model_dir(model) : ptq::fs::path(override_dir));
}

struct PplArgs {
  std::string model, tokenizer, data, protocol = "gptq", device = "cpu", kernels;
  std::int64_t seqlen = 2048, max_windows = 0, batch_tokens = 2048;
  bool json = false;
};

int run_ppl(const PplArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string kernels = ptq::parse_model_kernels(a.kernels);
  const ptq::Device device = ptq::parse_device(a.device);
  ptq::check(a.protocol == "gptq" || a.protocol == "lm-eval", "", "--protocol", "\"{}\" is not gptq or lm-eval", a.protocol);
  const auto model = ptq::Qwen2Model::load(a.model);
  const auto tok = model_tokenizer(a.model, a.tokenizer);
  const ptq::ScoringOptions scoring{a.batch_tokens, !a.json};
  const ptq::PerplexityResult r = ptq::with_device(model, device, [&](auto& m) {
    if (a.protocol == "gptq")  // --data: the HF rows (test.jsonl, "text" field) joined with "\n\n", or raw text as it is
      return ptq::perplexity_gptq(m, tok.encode(read_corpus(a.data)), a.seqlen, a.max_windows, scoring);
    // lm-eval: --data is the raw file (wiki.test.raw), split into pages as EleutherAI/wikitext_document_level does.
    return ptq::perplexity_lm_eval(m, tok, ptq::wikitext_pages(ptq::read_text_file(a.data)), a.seqlen, a.max_windows,
                                   scoring);
  }, kernels);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::ordered_json j{{"protocol", r.protocol}, {"seqlen", r.seqlen}, {"ppl", r.ppl}, {"nll_sum", r.nll_sum},
                           {"tokens", r.tokens}, {"windows", r.windows}, {"model", a.model}, {"data", a.data},
                           {"device", a.device}};
  if (device == ptq::Device::kCuda) j["kernels"] = kernels;
  else j["matmul"] = ptq::ref::matmul_path_name(ptq::ref::matmul_path());
  if (r.word_perplexity) {
    j["word_perplexity"] = *r.word_perplexity;
    j["byte_perplexity"] = *r.byte_perplexity;
    j["bits_per_byte"] = *r.bits_per_byte;
    j["documents"] = r.documents;
    j["words"] = r.words;
    j["bytes"] = r.bytes;
  }
  j["seconds"] = secs;
  j["peak_rss_bytes"] = peak_rss_bytes();
  if (a.json) {
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("perplexity ({} protocol, {} {}): {:.4f} over {} tokens in {} windows ({:.1f} s)\n", r.protocol,
               r.protocol == "gptq" ? "seqlen" : "max_length", r.seqlen, r.ppl, r.tokens, r.windows, secs);
    if (r.word_perplexity)
      fmt::print("word_perplexity {:.4f}  byte_perplexity {:.4f}  bits_per_byte {:.4f}  ({} pages)\n",
                 *r.word_perplexity, *r.byte_perplexity, *r.bits_per_byte, r.documents);
  }
  return 0;
}

struct EvalArgs {
  std::string model, tokenizer, tasks = "arc_easy,arc_challenge,hellaswag,piqa,winogrande,mmlu", data_dir = "../shared/data",
              log_samples, device = "cpu", kernels;
  std::size_t limit = 0;
  int num_fewshot = 0;
  std::int64_t max_length = 0, batch_tokens = 2048;
  bool json = false, hellaswag_full = false;
};

/// The tasks of `a` on `m`, the host model itself or its GPU copy.
template <class Model>
int eval_tasks(const EvalArgs& a, const ptq::Qwen2Model& model, Model& m) {
  const auto tok = model_tokenizer(a.model, a.tokenizer);
  ptq::EvalOptions opt;
  opt.max_length = a.max_length > 0 ? a.max_length : model.config().max_position_embeddings;
  opt.limit = a.limit;
  opt.scoring = {a.batch_tokens, !a.json};
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::string samples;
  for (std::size_t pos = 0; pos <= a.tasks.size();) {
    std::size_t end = a.tasks.find(',', pos);
    if (end == std::string::npos) end = a.tasks.size();
    const std::string name = a.tasks.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty()) continue;
    const auto t0 = std::chrono::steady_clock::now();
    const ptq::TaskData data = ptq::load_task(name, a.data_dir, a.num_fewshot, a.hellaswag_full);
    for (const auto& s : data.skipped) fmt::print(stderr, "ptq eval: skipped row: {}\n", s);
    const ptq::TaskResult r = ptq::evaluate_task(m, tok, data, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto& jt = out[name];
    jt["data"] = r.data;
    jt["docs"] = r.docs.size();
    std::size_t requests = 0;
    for (const auto& d : r.docs) requests += d.requests.size();
    jt["requests"] = requests;
    jt["docs_available"] = r.docs_available;
    jt["skipped_rows"] = r.skipped.size();
    if (name == "mmlu") jt["num_fewshot"] = a.num_fewshot;
    for (const auto& [metric, m] : r.metrics) jt["metrics"][metric] = {{"value", m.value}, {"stderr", m.stderr_}, {"n", m.n}};
    jt["seconds"] = secs;
    if (!a.json) {
      fmt::print("{:<14} n={:<6}", name, r.docs.size());
      for (const char* m : {"acc", "acc_norm"})
        if (r.metrics.count(m)) fmt::print("  {} {:.4f} ± {:.4f}", m, r.metrics.at(m).value, r.metrics.at(m).stderr_);
      fmt::print("  ({:.1f} s)\n", secs);
      if (name == "mmlu")
        for (const char* g : {"stem", "humanities", "social_sciences", "other"})
          if (r.metrics.count(std::string("acc/") + g))
            fmt::print("  mmlu/{:<16} acc {:.4f} ± {:.4f}  n={}\n", g, r.metrics.at(std::string("acc/") + g).value,
                       r.metrics.at(std::string("acc/") + g).stderr_, r.metrics.at(std::string("acc/") + g).n);
    }
    if (!a.log_samples.empty())
      for (const auto& d : r.docs) {
        nlohmann::ordered_json s{{"task", name}, {"doc_id", d.doc}, {"source", data.docs[d.doc].source},
                                 {"target", data.docs[d.doc].gold}, {"pred", d.pred}, {"pred_norm", d.pred_norm},
                                 {"acc", d.acc}, {"acc_norm", d.acc_norm}};
        for (const auto& q : d.requests)
          s["requests"].push_back({{"context", q.context}, {"continuation", q.continuation},
                                   {"loglikelihood", q.loglikelihood}, {"is_greedy", q.is_greedy}, {"tokens", q.tokens}});
        samples += s.dump() + "\n";
      }
  }
  if (!a.log_samples.empty()) ptq::write_file_atomic(a.log_samples, [&](std::ostream& o) { o << samples; });
  if (a.json) fmt::print("{}\n", out.dump());
  return 0;
}

int run_eval(const EvalArgs& a) {
  const std::string kernels = ptq::parse_model_kernels(a.kernels);
  const ptq::Device device = ptq::parse_device(a.device);
  const auto model = ptq::Qwen2Model::load(a.model);
  return ptq::with_device(model, device, [&](auto& m) { return eval_tasks(a, model, m); }, kernels);
}

struct QuantizeArgs {
  std::string model, method = "gptq", calib = "../shared/data/wikitext-2-raw-v1/validation.jsonl", out, feed;
  std::string format = "native", device = "cpu";
  int bits = 4, group = 128;
  bool asym = false, act_order = false, static_groups = false, no_clip = false, json = false, mixed = false;
  double budget_bits = 0;
  std::vector<std::string> candidates;
  ptq::CalibrationParams calibration{.nsamples = 128, .seqlen = 0, .seed = 0};  // seqlen 0: the method's default
  float damp = 0.01f;
  int block_size = 128;
};

int run_quantize(const QuantizeArgs& a) {
  ptq::check(!fs::exists(a.out), a.out, "", "already exists; choose a new output folder");
  const ptq::CheckpointFormat format = ptq::parse_format(a.format);
  const ptq::Device device = ptq::parse_device(a.device);
  const ptq::QuantSpec spec{a.bits, a.group, a.asym ? ptq::Symmetry::kAsymmetric : ptq::Symmetry::kSymmetric};
  if (device == ptq::Device::kCuda) ptq::require_instantiated(spec, "--device cuda");
  auto model = ptq::Qwen2Model::load(a.model);
  ptq::check(!ptq::load_quantization(model.dir()).has_value(), a.model, "quantization_config",
             "the model is already quantized");
  ptq::QuantizeOptions opt;
  opt.method = ptq::parse_method(a.method);
  opt.spec = spec;
  opt.gptq = {a.damp, a.block_size, a.act_order, a.static_groups};
  opt.awq.clip = !a.no_clip;
  ptq::check(a.feed.empty() || a.feed == "quantized" || a.feed == "full", "", "--feed", "\"{}\" is not quantized or full",
             a.feed);
  if (!a.feed.empty()) opt.feed_quantized = a.feed == "quantized";
  opt.resume_dir = a.out + ".partial";
  opt.progress = !a.json;
  opt.device = device;
  ptq::check(a.mixed || (a.candidates.empty() && a.budget_bits == 0), "", "--candidates",
             "--candidates and --budget-bits go with --mixed");
  if (a.mixed) opt.mixed = ptq::MixedParams{a.budget_bits, ptq::parse_candidates(a.candidates)};
  ptq::CalibrationParams cp = a.calibration;
  if (cp.seqlen == 0) cp.seqlen = ptq::default_calibration(opt.method).seqlen;
  std::vector<std::vector<std::int32_t>> calib;
  if (opt.method != ptq::Method::kRtn || opt.mixed) {
    const auto tok = ptq::Tokenizer::load(model.dir());
    calib = ptq::calibration_windows(tok.encode(read_corpus(a.calib)), cp);
  }
  if (fs::exists(opt.resume_dir) && !a.json) fmt::print("resuming from the finished layers in {}\n", opt.resume_dir.string());
  const ptq::QuantizeReport rep = ptq::quantize_model(model, opt, calib);
  nlohmann::ordered_json info{{"method", a.method}, {"producer", "ptq"}};
  if (opt.method == ptq::Method::kGptq) {
    info["damp_percent"] = a.damp;
    info["block_size"] = a.block_size;
    info["desc_act"] = a.act_order;
    info["static_groups"] = a.static_groups;
  }
  if (opt.method == ptq::Method::kAwq) info["awq"] = fmt::format("{}", opt.awq);
  if (opt.method != ptq::Method::kRtn) info["feed_quantized"] = opt.feeds_quantized();
  if (!calib.empty())
    info["calibration"] = {{"file", a.calib}, {"nsamples", cp.nsamples}, {"seqlen", cp.seqlen}, {"seed", cp.seed}};
  if (opt.mixed) info["mixed"] = {{"budget_bits", a.budget_bits}, {"candidates", a.candidates}};
  ptq::save_quantized(model, a.out, info, format);
  fs::remove_all(opt.resume_dir);
  const std::string scheme = opt.mixed ? ptq::mixed_name(*opt.mixed) : ptq::config_name(opt.spec);
  nlohmann::ordered_json j{{"method", a.method}, {"scheme", scheme}, {"model", a.model},
                           {"out", a.out}, {"quant_seconds", rep.seconds}, {"resumed_layers", rep.resumed_layers},
                           {"linear_bytes_before", rep.bytes_before}, {"linear_bytes_after", rep.bytes_after},
                           {"bits_per_weight", ptq::linear_bits_per_weight(model)},
                           {"peak_rss_bytes", peak_rss_bytes()}, {"device", rep.device},
                           {"peak_device_bytes", rep.peak_device_bytes}};
  if (rep.mixed) j["mixed"] = ptq::mixed_json(*rep.mixed);
  if (a.json) {
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{} {}: {} linear layers in {:.1f} s; their weights {:.2f} MB -> {:.2f} MB ({:.3f} bits per weight); "
               "peak RSS {:.0f} MB; wrote {}\n", a.method, scheme, rep.layers.size(), rep.seconds,
               rep.bytes_before / 1e6, rep.bytes_after / 1e6, ptq::linear_bits_per_weight(model),
               peak_rss_bytes() / 1e6, a.out);
  }
  return 0;
}

/// Rewrites a quantized checkpoint (any format ptq reads) in another format: the same codes, grids and tensors.
int run_export(const std::string& model_path, const std::string& format_name, const std::string& out) {
  const ptq::CheckpointFormat format = ptq::parse_format(format_name);
  const auto model = ptq::Qwen2Model::load(model_path);
  const auto q = ptq::load_quantization(model.dir());
  ptq::check(q.has_value(), model.dir().string(), "quantization_config", "not a quantized checkpoint");
  const auto source = nlohmann::ordered_json::parse(ptq::read_text_file(model.dir() / "config.json"))["quantization_config"];
  ptq::save_quantized(model, out, {{"exported_from", ptq::format_name(q->format)}, {"source", source}}, format);
  fmt::print("wrote {} ({} format, {})\n", out, ptq::format_name(format), ptq::config_name(q->spec));
  return 0;
}

/// `ptq row`: a leaderboard row whose scheme and method come from the command line (what a sweep runs).
struct RowArgs {
  ptq::RowOptions o;
  std::string method, scheme, key, combination;
  bool act_order = false;
  double budget_bits = 0;               // mixed precision, with candidates (instead of --scheme)
  std::vector<std::string> candidates;
};

int run_generic_row(int argc, char** argv, const RowArgs& a) {
  ptq::RowSpec row;
  if (a.method == "fp16") {
    row = ptq::baseline_row(a.key.empty() ? "fp16" : a.key, "FP16 (the model as stored)");
  } else {
    const ptq::Method method = ptq::parse_method(a.method);
    ptq::QuantSpec spec;
    std::optional<ptq::MixedParams> mixed;
    if (!a.candidates.empty()) {
      ptq::check(a.scheme.empty(), "", "--scheme", "a mixed row takes --budget-bits and --candidates, not a scheme");
      mixed = ptq::MixedParams{a.budget_bits, ptq::parse_candidates(a.candidates)};
    } else {
      ptq::check(ptq::instantiated_spec(a.scheme, spec), "", "--scheme",
                 "\"{}\" is not an instantiated scheme (instantiated: {})", a.scheme, ptq::instantiated_scheme_names());
    }
    const std::string scheme = mixed ? ptq::mixed_name(*mixed) : a.scheme;
    const std::string key = mixed ? fmt::format("{}_mix{}", a.method, mixed->budget_bits) : fmt::format("{}_{}", a.method, scheme);
    row = {a.key.empty() ? key : a.key, "", method, spec, {}, {}, {}, {}, mixed};
    row.gptq.act_order = a.act_order;
    row.label = fmt::format("{} ({}{})", a.method, scheme, a.act_order ? ", act-order" : "");
  }
  row.combination = a.combination;
  return ptq::run_row(argc, argv, row, a.o);
}

/// `ptq sweep`'s command line: the sweep and what every row gets.
struct SweepArgs {
  ptq::SweepOptions s;
  std::string methods = "rtn,gptq,awq", schemes = "w4g128s,w4g128a,w3g128a", out;
  std::string model = "../shared/models/qwen2-micro", data_dir = "../shared/data", tasks, calib, calib_ids,
              calib_windows, device = "cpu", kernels;
  int nsamples = 0, calib_seqlen = 0;
  std::int64_t ppl_seqlen = 2048, ppl_windows = 0;
  std::size_t limit = 0;
  bool plan = false, no_fp16 = false;
};

int run_sweep_command(const SweepArgs& a) {
  ptq::SweepOptions o = a.s;
  o.methods = ptq::detail::split_list(a.methods);
  o.schemes = ptq::detail::split_list(a.schemes);
  o.fp16 = !a.no_fp16;
  o.out = fs::absolute(a.out).lexically_normal();
  ptq::parse_model_kernels(a.kernels);
  o.row_args = {"--model", fs::absolute(a.model).lexically_normal().string(), "--data-dir", fs::absolute(a.data_dir).lexically_normal().string(),
                "--ppl-seqlen", std::to_string(a.ppl_seqlen), "--ppl-windows", std::to_string(a.ppl_windows),
                "--tasks", a.tasks.empty() ? "none" : a.tasks, "--limit", std::to_string(a.limit), "--device", a.device,
                "--no-progress"};
  auto add = [&](const char* flag, const std::string& v) {
    if (!v.empty()) o.row_args.insert(o.row_args.end(), {flag, v});
  };
  add("--nsamples", a.nsamples ? std::to_string(a.nsamples) : "");
  add("--calib-seqlen", a.calib_seqlen ? std::to_string(a.calib_seqlen) : "");
  add("--calib", a.calib.empty() ? "" : fs::absolute(a.calib).lexically_normal().string());
  add("--calib-ids", a.calib_ids.empty() ? "" : fs::absolute(a.calib_ids).lexically_normal().string());
  add("--calib-windows", a.calib_windows);
  add("--kernels", a.kernels);
  const fs::path program = fs::read_symlink("/proc/self/exe");
  if (a.plan) {
    fmt::print("{}", ptq::sweep_manifest(program, o));
    return 0;
  }
  return ptq::run_sweep(program, o);
}

/// --kernels' help: the compiled configurations.
std::string kernels_help() {
  return fmt::format("cuda: the packed products' kernel configuration, one of {} (default: the first)",
                     ptq::model_kernels_names());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ptq: post-training quantization of Qwen2 models"};
  app.require_subcommand(1);
  std::string model_path;
  bool no_check = false;
  auto* info = app.add_subcommand("info", "Print a model's config and parameter counts");
  info->add_option("--model", model_path, "Hugging Face model folder or cache entry")->required();
  info->add_flag("--no-check-finite", no_check, "Skip the NaN/Inf scan of the weights");

  TokenizeArgs tk;
  auto* tokenize = app.add_subcommand("tokenize", "Text to token ids (int32 little-endian), or back with --decode");
  tokenize->add_option("--tokenizer", tk.tokenizer, "Folder with tokenizer.json (or vocab.json + merges.txt)")->required();
  tokenize->add_option("--input", tk.input, "Raw text file (with --decode: an ids file)");
  tokenize->add_option("--jsonl", tk.jsonl, "JSONL file whose rows are joined");
  tokenize->add_option("--field", tk.field, "JSONL field to read")->capture_default_str();
  tokenize->add_option("--join", tk.join, "Separator between JSONL rows (escapes \\n \\t)")->capture_default_str();
  tokenize->add_option("--ids-out", tk.ids_out, "Write the ids here (int32 little-endian, atomic)");
  tokenize->add_option("--text-out", tk.text_out, "With --decode: write the text here instead of stdout");
  tokenize->add_flag("--decode", tk.decode, "Decode an ids file back to text");

  PplArgs pa;
  auto* ppl = app.add_subcommand("ppl", "WikiText-2 perplexity (gptq or lm-eval protocol)");
  ppl->add_option("--model", pa.model, "Hugging Face model folder or cache entry")->required();
  ppl->add_option("--tokenizer", pa.tokenizer, "Tokenizer folder (default: the model folder)");
  ppl->add_option("--data", pa.data, "gptq: test.jsonl (rows joined with \\n\\n) or a text file; lm-eval: wiki.test.raw")
      ->required();
  ppl->add_option("--protocol", pa.protocol, "gptq | lm-eval")->capture_default_str();
  ppl->add_option("--seqlen,--max-length", pa.seqlen, "Window length (lm-eval: max_length; give it explicitly)")
      ->capture_default_str();
  ppl->add_option("--max-windows", pa.max_windows, "gptq: score only the first K windows; lm-eval: the first K pages");
  ppl->add_option("--batch-tokens", pa.batch_tokens, "Tokens per forward pass")->capture_default_str();
  ppl->add_option("--device", pa.device, "cpu | cuda (the GPU model, bf16)")->capture_default_str();
  ppl->add_option("--kernels", pa.kernels, kernels_help());
  ppl->add_flag("--json", pa.json, "Print one JSON object");

  EvalArgs ea;
  auto* eval = app.add_subcommand("eval", "lm-eval 0.4 tasks: arc_easy, arc_challenge, hellaswag, piqa, winogrande, mmlu");
  eval->add_option("--model", ea.model, "Hugging Face model folder or cache entry")->required();
  eval->add_option("--tokenizer", ea.tokenizer, "Tokenizer folder (default: the model folder)");
  eval->add_option("--tasks", ea.tasks, "Comma-separated task names")->capture_default_str();
  eval->add_option("--data-dir", ea.data_dir, "Folder laid out as ../shared/data")->capture_default_str();
  eval->add_option("--limit", ea.limit, "Score only the first N docs of each task");
  eval->add_option("--num-fewshot", ea.num_fewshot, "MMLU few-shot examples (0-5)")->capture_default_str();
  eval->add_option("--max-length", ea.max_length, "Longest input (default: max_position_embeddings)");
  eval->add_option("--batch-tokens", ea.batch_tokens, "Tokens per forward pass")->capture_default_str();
  eval->add_option("--log-samples", ea.log_samples, "Write every request's context, continuation, ll, is_greedy (JSONL)");
  eval->add_flag("--hellaswag-full", ea.hellaswag_full, "HellaSwag from the 10,042-row pre-processed file (approximate)");
  eval->add_option("--device", ea.device, "cpu | cuda (the GPU model, bf16)")->capture_default_str();
  eval->add_option("--kernels", ea.kernels, kernels_help());
  eval->add_flag("--json", ea.json, "Print one JSON object");

  QuantizeArgs qa;
  auto* quantize = app.add_subcommand("quantize", "Quantize a model (RTN, GPTQ or AWQ) and write a checkpoint folder");
  quantize->add_option("--model", qa.model, "Hugging Face model folder or cache entry")->required();
  quantize->add_option("--method", qa.method, "rtn | gptq | awq")->capture_default_str();
  quantize->add_option("--bits", qa.bits, "Code width, 2..8")->capture_default_str();
  quantize->add_option("--group", qa.group, "Group size (0: per output channel)")->capture_default_str();
  quantize->add_flag("--asym", qa.asym, "Asymmetric (zero point); default symmetric");
  quantize->add_flag("!--sym", qa.asym, "Symmetric (the default)");
  quantize->add_option("--calib", qa.calib, "Calibration text (.jsonl rows joined with \\n\\n, or raw text)")->capture_default_str();
  quantize->add_option("--nsamples", qa.calibration.nsamples, "Calibration windows")->capture_default_str();
  quantize->add_option("--seqlen", qa.calibration.seqlen, "Tokens per calibration window (default: GPTQ 2048, AWQ 512)");
  quantize->add_option("--seed", qa.calibration.seed, "Seed for window positions")->capture_default_str();
  quantize->add_option("--damp", qa.damp, "GPTQ damping (fraction of mean diag H)")->capture_default_str();
  quantize->add_option("--block-size", qa.block_size, "GPTQ lazy-batch width")->capture_default_str();
  quantize->add_flag("--act-order", qa.act_order, "GPTQ: columns by decreasing Hessian diagonal (stores g_idx)");
  quantize->add_flag("--static-groups", qa.static_groups, "GPTQ: group grids from the original weights");
  quantize->add_flag("--no-clip", qa.no_clip, "AWQ: skip the clipping search");
  quantize->add_option("--feed", qa.feed, "Next layer's calibration input: quantized | full (default: GPTQ quantized, AWQ full)");
  quantize->add_option("--out", qa.out, "Output folder (must not exist)")->required();
  quantize->add_option("--format", qa.format, "Output layout: native | gptq (v1) | awq (GEMM)")->capture_default_str();
  quantize->add_option("--device", qa.device, "Where the layers are quantized: cpu | cuda (the model in bf16)")->capture_default_str();
  quantize->add_flag("--mixed", qa.mixed, "Mixed precision: a scheme per linear from --candidates under --budget-bits");
  quantize->add_option("--budget-bits", qa.budget_bits, "Mixed: most stored bits per weight over the quantized linears");
  quantize->add_option("--candidates", qa.candidates, "Mixed: comma-separated instantiated schemes, e.g. w3g128a,w4g128s,w8g128s")
      ->delimiter(',');
  quantize->add_flag("--json", qa.json, "Print one JSON object");

  std::string lb_results = "results", lb_format = "md", lb_lang = "en", lb_out;
  auto* leaderboard = app.add_subcommand("leaderboard", "Render the row records in a results folder as the leaderboard");
  leaderboard->add_option("--results", lb_results, "Folder of row records (<row>.json)")->capture_default_str();
  leaderboard->add_option("--format", lb_format, "md | csv | json | html")->capture_default_str();
  leaderboard->add_option("--lang", lb_lang, "Headings: en | zh")->capture_default_str();
  leaderboard->add_option("--out", lb_out, "Write here (atomically) instead of stdout");

  std::string export_model, export_format, export_out;
  auto* exporter = app.add_subcommand("export", "Rewrite a quantized checkpoint as native, GPTQ v1 or AWQ GEMM");
  exporter->add_option("--model", export_model, "Quantized checkpoint folder")->required();
  exporter->add_option("--format", export_format, "native | gptq | awq")->required();
  exporter->add_option("--out", export_out, "Output folder (must not exist)")->required();
  RowArgs ra;
  auto* row = app.add_subcommand("row", "One leaderboard row of a given method and scheme (what `ptq sweep` runs)");
  ptq::detail::add_row_options(*row, ra.o);
  row->add_option("--method", ra.method, "fp16 | rtn | gptq | awq")->required();
  row->add_option("--scheme", ra.scheme, "An instantiated scheme's name, e.g. w4g128s, w3g128a (not for fp16)");
  row->add_flag("--act-order", ra.act_order, "GPTQ: quantize columns in order of decreasing Hessian diagonal");
  row->add_option("--budget-bits", ra.budget_bits, "Mixed precision: most stored bits per weight (with --candidates)");
  row->add_option("--candidates", ra.candidates, "Mixed precision: comma-separated instantiated schemes (no --scheme)")
      ->delimiter(',');
  row->add_option("--key", ra.key, "The record's name (default: <method>_<scheme>)");
  row->add_option("--combination", ra.combination, "The sweep combination rows of several seeds share");

  SweepArgs sa;
  auto* sweep = app.add_subcommand("sweep", "Rows for every (method, scheme): records, leaderboard and Pareto front");
  sweep->add_option("--model", sa.model, "Hugging Face model folder or cache entry")->capture_default_str();
  sweep->add_option("--data-dir", sa.data_dir, "Evaluation data (../shared/data layout)")->capture_default_str();
  sweep->add_option("--methods", sa.methods, "Comma-separated: rtn, gptq, awq")->capture_default_str();
  sweep->add_option("--schemes", sa.schemes, fmt::format("Comma-separated, among: {}", ptq::instantiated_scheme_names()))
      ->capture_default_str();
  sweep->add_option("--act-order", sa.s.act_order, "GPTQ's act-order: off | on | both")->capture_default_str();
  sweep->add_option("--budgets", sa.s.budgets, "Mixed precision: a row per method and budget (bits per weight), comma-separated")
      ->delimiter(',');
  sweep->add_option("--candidates", sa.s.candidates, "Mixed precision's schemes, comma-separated")
      ->delimiter(',')->capture_default_str();
  sweep->add_option("--seeds", sa.s.seeds, "Calibration seeds per calibrated combination (mean and spread)")
      ->capture_default_str();
  sweep->add_flag("--no-fp16", sa.no_fp16, "No unquantized baseline row");
  sweep->add_flag("--keep-checkpoints", sa.s.keep_checkpoints, "Keep every row's quantized checkpoint in <out>/models");
  sweep->add_option("--calib", sa.calib, "Calibration text (default: <data-dir>/wikitext-2-raw-v1/validation.jsonl)");
  sweep->add_option("--calib-ids", sa.calib_ids, "Calibration token windows as data (int32 ids, `ptq tokenize`)");
  sweep->add_option("--calib-windows", sa.calib_windows, "random | first");
  sweep->add_option("--nsamples", sa.nsamples, "Calibration windows (0: the method's default, 128)");
  sweep->add_option("--seqlen", sa.calib_seqlen, "Calibration window length (0: GPTQ 2048, AWQ 512)");
  sweep->add_option("--ppl-seqlen", sa.ppl_seqlen, "WikiText-2 window (GPTQ protocol)")->capture_default_str();
  sweep->add_option("--ppl-windows", sa.ppl_windows, "Score only the first K windows (0: all)")->capture_default_str();
  sweep->add_option("--tasks", sa.tasks, "Comma-separated lm-eval tasks (default: none, perplexity only)");
  sweep->add_option("--limit", sa.limit, "Docs per task, per MMLU subject (0: all)")->capture_default_str();
  sweep->add_option("--device", sa.device, "cpu | cuda")->capture_default_str();
  sweep->add_option("--kernels", sa.kernels, kernels_help());
  sweep->add_option("--out", sa.out, "The records' folder (a rerun resumes it)")->required();
  sweep->add_flag("--plan", sa.plan, "Print the rows' commands, one a line (a manifest), instead of running them");
  CLI11_PARSE(app, argc, argv);
  if (*row) return run_generic_row(argc, argv, ra);  // its own exit codes (0, 1 failed row, 2 bad options)
  try {
    ptq::ref::matmul_path();  // a bad PTQ_MATMUL is refused before any work
    if (*sweep) return run_sweep_command(sa);
    if (*quantize) return run_quantize(qa);
    if (*exporter) return run_export(export_model, export_format, export_out);
    if (*leaderboard) {
      const std::string text = ptq::render_leaderboard(ptq::load_records(lb_results), lb_format, lb_lang);
      if (lb_out.empty()) fmt::print("{}", text);
      else ptq::write_file_atomic(lb_out, [&](std::ostream& o) { o << text; });
      return 0;
    }
    if (*ppl) return run_ppl(pa);
    if (*eval) return run_eval(ea);
    if (*info) return run_info(model_path, !no_check);
    if (*tokenize) return run_tokenize(tk);
  } catch (const ptq::Error& e) {
    fmt::print(stderr, "ptq: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // the device (no CUDA device, out of device memory), the system
    fmt::print(stderr, "ptq: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
