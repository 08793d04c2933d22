/// @file Reading a Hugging Face model folder: config.json -> Qwen2Config, and cache-entry resolution.
#pragma once

#include "ptq/io/file.hpp"
#include "ptq/model/qwen2_config.hpp"
#include "ptq/quant/formats.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace ptq {

/// Accepts a model folder (config.json inside) or a Hugging Face cache entry
/// (`models--Org--Name/` with `refs/main` and `snapshots/<hash>/`), and returns the folder to read.
inline fs::path resolve_model_dir(const fs::path& path) {
  check(fs::is_directory(path), path.string(), "", "model path is not a folder");
  if (fs::exists(path / "config.json")) return path;
  const fs::path snapshots = path / "snapshots";
  if (fs::is_directory(snapshots)) {
    if (fs::exists(path / "refs" / "main")) {
      std::string hash = read_text_file(path / "refs" / "main");
      while (!hash.empty() && std::isspace(static_cast<unsigned char>(hash.back()))) hash.pop_back();
      if (fs::exists(snapshots / hash / "config.json")) return snapshots / hash;
    }
    for (const auto& e : fs::directory_iterator(snapshots))
      if (fs::exists(e.path() / "config.json")) return e.path();
  }
  throw Error(path.string(), "config.json", "not found (neither a model folder nor a Hugging Face cache entry)");
}

namespace detail {

template <class T>
T config_field(const nlohmann::json& j, const std::string& file, const char* key, std::optional<T> fallback) {
  if (!j.contains(key) || j[key].is_null()) {
    check(fallback.has_value(), file, key, "required field is missing");
    return *fallback;
  }
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    check(v.is_boolean(), file, key, "expected true/false, got {}", v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    check(v.is_number_integer(), file, key, "expected an integer, got {}", v.dump());
  } else if constexpr (std::is_floating_point_v<T>) {
    check(v.is_number(), file, key, "expected a number, got {}", v.dump());
  } else {
    check(v.is_string(), file, key, "expected a string, got {}", v.dump());
  }
  return v.get<T>();
}

/// Token ids may be an integer or a list of integers (the first is taken); absent means -1.
inline int token_id_field(const nlohmann::json& j, const std::string& file, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  const auto& v = j[key];
  if (v.is_array() && !v.empty()) return token_id_field(nlohmann::json{{key, v[0]}}, file, key);
  check(v.is_number_integer(), file, key, "expected an integer token id, got {}", v.dump());
  return v.get<int>();
}

}  // namespace detail

/// Checks sizes and head counts; throws naming the file and the field.
inline void validate(const Qwen2Config& c, const std::string& file) {
  auto positive = [&](int v, const char* name) { check(v > 0, file, name, "must be positive, got {}", v); };
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.num_key_value_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.vocab_size, "vocab_size");
  check(c.num_attention_heads % c.num_key_value_heads == 0, file, "num_key_value_heads",
        "{} does not divide num_attention_heads {}", c.num_key_value_heads, c.num_attention_heads);
  check(c.head_dim % 2 == 0, file, "head_dim", "RoPE needs an even head_dim, got {}", c.head_dim);
  check(c.rope_theta > 0, file, "rope_theta", "must be positive, got {}", c.rope_theta);
  check(c.rms_norm_eps > 0, file, "rms_norm_eps", "must be positive, got {}", c.rms_norm_eps);
}

/// Parses a config.json text (`file` names it in errors).
inline Qwen2Config parse_qwen2_config(const std::string& text, const std::string& file) {
  using detail::config_field;
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  check(!j.is_discarded(), file, "", "not valid JSON");
  check(j.is_object(), file, "", "not a JSON object");

  Qwen2Config c;
  std::string arch = "Qwen2ForCausalLM";
  if (j.contains("architectures")) {
    check(j["architectures"].is_array() && !j["architectures"].empty() && j["architectures"][0].is_string(), file,
          "architectures", "expected a list of names");
    arch = j["architectures"][0].get<std::string>();
  }
  check(arch == "Qwen2ForCausalLM" || arch == "LlamaForCausalLM", file, "architectures",
        "\"{}\" is not supported (Qwen2ForCausalLM, LlamaForCausalLM)", arch);
  const bool llama = arch == "LlamaForCausalLM";
  c.architecture = arch;
  const auto act = config_field<std::string>(j, file, "hidden_act", "silu");
  check(act == "silu", file, "hidden_act", "only \"silu\" is supported, got \"{}\"", act);
  check(!config_field<bool>(j, file, "use_sliding_window", false), file, "use_sliding_window",
        "sliding-window attention is not supported");
  // RoPE: transformers 4.x writes "rope_theta" (+ "rope_scaling"), 5.x writes "rope_parameters".
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    check(j[key].is_object(), file, key, "expected an object, got {}", j[key].dump());
    const auto& r = j[key];
    const std::string type = r.value("rope_type", r.value("type", std::string("default")));
    check(type == "default", file, key, "RoPE type \"{}\" is not supported (only \"default\")", type);
  }
  if (j.contains("layer_types") && j["layer_types"].is_array())
    for (const auto& t : j["layer_types"])
      check(t == "full_attention", file, "layer_types", "only full_attention layers are supported, got {}", t.dump());
  c.hidden_size = config_field<int>(j, file, "hidden_size", std::nullopt);
  c.intermediate_size = config_field<int>(j, file, "intermediate_size", std::nullopt);
  c.num_hidden_layers = config_field<int>(j, file, "num_hidden_layers", std::nullopt);
  c.num_attention_heads = config_field<int>(j, file, "num_attention_heads", std::nullopt);
  c.num_key_value_heads = config_field<int>(j, file, "num_key_value_heads", c.num_attention_heads);
  check(c.num_attention_heads > 0, file, "num_attention_heads", "must be positive, got {}", c.num_attention_heads);
  c.head_dim = config_field<int>(j, file, "head_dim", c.hidden_size / c.num_attention_heads);
  c.vocab_size = config_field<int>(j, file, "vocab_size", std::nullopt);
  c.max_position_embeddings = config_field<int>(j, file, "max_position_embeddings", 2048);
  c.rope_theta = j.contains("rope_parameters") && j["rope_parameters"].is_object()
                     ? config_field<double>(j["rope_parameters"], file, "rope_theta", 10000.0)
                     : config_field<double>(j, file, "rope_theta", 10000.0);
  c.rms_norm_eps = config_field<double>(j, file, "rms_norm_eps", 1e-6);
  c.tie_word_embeddings = config_field<bool>(j, file, "tie_word_embeddings", false);  // both HF classes default to untied
  c.attention_bias = config_field<bool>(j, file, "attention_bias", !llama);
  c.bos_token_id = detail::token_id_field(j, file, "bos_token_id");
  c.eos_token_id = detail::token_id_field(j, file, "eos_token_id");
  c.torch_dtype = config_field<std::string>(j, file, j.contains("dtype") ? "dtype" : "torch_dtype", "float32");
  validate(c, file);
  return c;
}

/// Reads `<dir>/config.json`.
inline Qwen2Config load_qwen2_config(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  return parse_qwen2_config(read_text_file(file), file.string());
}

}  // namespace ptq

namespace ptq {

namespace detail {

inline int quant_int(const nlohmann::json& q, const std::string& file, const char* key) {
  check(q.contains(key) && q[key].is_number_integer(), file, fmt::format("quantization_config.{}", key),
        "missing or not an integer");
  return q[key].get<int>();
}

inline bool quant_bool(const nlohmann::json& q, const std::string& file, const char* key, std::optional<bool> fallback) {
  if (!q.contains(key) && fallback) return *fallback;
  check(q.contains(key) && q[key].is_boolean(), file, fmt::format("quantization_config.{}", key),
        "missing or not a boolean");
  return q[key].get<bool>();
}

}  // namespace detail

/// The quantization a checkpoint's config.json declares ("quantization_config"), or nullopt for a dense model.
///   ptq native: {"quant_method": "ptq", "format_version": 1, "bits", "group_size", "sym"}
///   GPTQ:       {"quant_method": "gptq", "bits" 2|3|4|8, "group_size" (-1: per channel), "sym", "desc_act",
///                "checkpoint_format": "gptq" (v1, the default) | "gptq_v2"}
///   AWQ:        {"quant_method": "awq", "bits": 4, "group_size", "zero_point", "version": "gemm"}
inline std::optional<QuantizedCheckpoint> load_quantization(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  const auto j = nlohmann::json::parse(read_text_file(file), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("quantization_config")) return std::nullopt;
  const auto& q = j["quantization_config"];
  const std::string f = file.string();
  check(q.is_object(), f, "quantization_config", "expected an object");
  const auto method = q.value("quant_method", std::string());
  const int bits = detail::quant_int(q, f, "bits");
  const int group = detail::quant_int(q, f, "group_size");
  QuantizedCheckpoint c;
  if (method == "ptq") {
    check(q.value("format_version", 0) == 1, f, "quantization_config.format_version", "unsupported version {} (ptq "
          "reads version 1)", q.value("format_version", 0));
    c.spec = {bits, group, detail::quant_bool(q, f, "sym", std::nullopt) ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
  } else if (method == "gptq") {
    const std::string fmt_name = q.value("checkpoint_format", std::string("gptq"));
    check(fmt_name == "gptq" || fmt_name == "gptq_v2", f, "quantization_config.checkpoint_format",
          "\"{}\" is not supported (gptq, gptq_v2)", fmt_name);
    check(bits == 2 || bits == 3 || bits == 4 || bits == 8, f, "quantization_config.bits",
          "GPTQ checkpoints have 2, 3, 4 or 8 bits, not {}", bits);
    c.format = CheckpointFormat::kGptq;
    c.zero_offset = fmt_name == "gptq" ? 1 : 0;
    c.spec = {bits, group == -1 ? kPerChannel : group,
              detail::quant_bool(q, f, "sym", true) ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
    check(group != 0, f, "quantization_config.group_size", "0 is not a GPTQ group size (-1 means per channel)");
  } else if (method == "awq") {
    const std::string version = q.value("version", std::string("gemm"));
    check(version == "gemm" || version == "GEMM", f, "quantization_config.version",
          "AWQ \"{}\" packing is not supported (gemm)", version);
    check(bits == 4, f, "quantization_config.bits", "AWQ GEMM checkpoints are 4-bit, not {}", bits);
    check(group > 0, f, "quantization_config.group_size", "AWQ GEMM needs a positive group size, got {}", group);
    c.format = CheckpointFormat::kAwq;
    c.spec = {bits, group, detail::quant_bool(q, f, "zero_point", true) ? Symmetry::kAsymmetric : Symmetry::kSymmetric};
  } else {
    throw Error(f, "quantization_config.quant_method",
                fmt::format("\"{}\" checkpoints are not supported (ptq, gptq, awq)", method));
  }
  validate(c.spec, f + ": quantization_config");
  return c;
}

}  // namespace ptq
