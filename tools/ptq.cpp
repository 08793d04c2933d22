/// @file `ptq`: the command-line tool. Subcommands:
///   ptq info --model DIR      config, tensor counts and bytes of a Hugging Face Qwen2 checkpoint
/// Errors in inputs are reported as "file: item: problem" with exit code 2.
#include "ptq/io/llama2c.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ptq: post-training quantization of Qwen2 models"};
  app.require_subcommand(1);
  std::string model_path;
  bool no_check = false;
  auto* info = app.add_subcommand("info", "Print a model's config and parameter counts");
  info->add_option("--model", model_path, "Hugging Face model folder or cache entry")->required();
  info->add_flag("--no-check-finite", no_check, "Skip the NaN/Inf scan of the weights");
  CLI11_PARSE(app, argc, argv);
  try {
    if (*info) return run_info(model_path, !no_check);
  } catch (const ptq::Error& e) {
    fmt::print(stderr, "ptq: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
