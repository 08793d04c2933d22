/// @file `ptq`: the command-line tool. Subcommands:
///   ptq info --model DIR      config, tensor counts and bytes of a Hugging Face Qwen2 checkpoint
///   ptq tokenize --tokenizer DIR (--input FILE | --jsonl FILE [--field text] [--join "\n\n"])
///                [--ids-out FILE]             token ids (int32 little-endian), count printed
///   ptq tokenize --tokenizer DIR --decode --input IDS_FILE [--text-out FILE]
/// Errors in inputs are reported as "file: item: problem" with exit code 2.
#include "ptq/eval/wikitext.hpp"
#include "ptq/io/llama2c.hpp"
#include "ptq/tokenizer/tokenizer.hpp"
#include "ptq/model/qwen2.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <map>

namespace {

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
    const std::string bytes = ptq::read_text_file(a.input);
    ptq::check(bytes.size() % 4 == 0, a.input, "", "{} bytes is not a whole number of int32 ids", bytes.size());
    std::vector<std::int32_t> ids(bytes.size() / 4);
    std::memcpy(ids.data(), bytes.data(), bytes.size());
    const std::string text = tok.decode(ids);
    if (a.text_out.empty()) fmt::print("{}", text);
    else ptq::write_file_atomic(a.text_out, [&](std::ostream& o) { o << text; });
    fmt::print(stderr, "{} ids -> {} bytes\n", ids.size(), text.size());
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
  CLI11_PARSE(app, argc, argv);
  try {
    if (*info) return run_info(model_path, !no_check);
    if (*tokenize) return run_tokenize(tk);
  } catch (const ptq::Error& e) {
    fmt::print(stderr, "ptq: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
