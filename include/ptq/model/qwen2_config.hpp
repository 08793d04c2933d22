/// @file Qwen2Config: the fields of a Hugging Face `config.json` that the Qwen2 forward pass needs, and its reader.
///
/// Field names are Hugging Face's. `LlamaForCausalLM` configs load too (Qwen2 without q/k/v biases).
#pragma once

#include "ptq/core/fields.hpp"
#include "ptq/io/file.hpp"
#include "ptq/io/json_fields.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ptq {

struct Qwen2Config {
  std::string architecture = "Qwen2ForCausalLM";  // "Qwen2ForCausalLM" or "LlamaForCausalLM"
  int hidden_size = 0;                // model width H
  int intermediate_size = 0;          // MLP width I
  int num_hidden_layers = 0;          // decoder layers L
  int num_attention_heads = 0;        // query heads
  int num_key_value_heads = 0;        // key/value heads (GQA: divides num_attention_heads)
  int head_dim = 0;                   // per-head width; hidden_size / num_attention_heads unless given
  int vocab_size = 0;                 // rows of embed_tokens and lm_head
  int max_position_embeddings = 0;    // longest sequence the model was configured for
  double rope_theta = 10000.0;        // RoPE base
  double rms_norm_eps = 1e-6;         // RMSNorm epsilon
  bool tie_word_embeddings = false;   // lm_head shares embed_tokens
  bool attention_bias = true;         // q/k/v projections carry biases (Qwen2: yes; Llama: no)
  int bos_token_id = -1;              // -1: none
  int eos_token_id = -1;              // -1: none
  std::string torch_dtype = "bfloat16";  // stored weight dtype, informational

  static constexpr std::array<std::string_view, 16> field_names{
      "architecture", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
      "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "rope_theta",
      "rms_norm_eps", "tie_word_embeddings", "attention_bias", "bos_token_id", "eos_token_id", "torch_dtype"};

  [[nodiscard]] int q_dim() const { return num_attention_heads * head_dim; }    // width of q_proj output
  [[nodiscard]] int kv_dim() const { return num_key_value_heads * head_dim; }  // width of k/v_proj output
};
static_assert(NamedAggregate<Qwen2Config>, "field_names out of step with Qwen2Config's fields");

/// A decoder layer's linear: weight (out, in), and whether it has a bias.
struct LinearShape {
  std::int64_t out = 0, in = 0;
  bool bias = false;
};

/// The shape of linear `slot` of every decoder layer, in model/layer_slots.hpp's order (q, k, v, o, gate, up, down).
inline LinearShape linear_shape(const Qwen2Config& c, std::size_t slot) {
  const std::int64_t h = c.hidden_size, inter = c.intermediate_size;
  constexpr std::size_t kO = 3, kDown = 6;
  if (slot < kO) return {slot == 0 ? c.q_dim() : c.kv_dim(), h, c.attention_bias};  // q, k, v
  if (slot == kO) return {h, c.q_dim(), false};
  if (slot < kDown) return {inter, h, false};                                          // gate, up
  return {h, inter, false};
}

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
    const auto type = config_field<std::string>(r, file, "rope_type",
                                                config_field<std::string>(r, file, "type", "default", key), key);
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
