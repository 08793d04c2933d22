/// @file Qwen2Config: the fields of a Hugging Face `config.json` that the Qwen2 forward pass needs.
///
/// Field names are Hugging Face's. `LlamaForCausalLM` configs load too (Qwen2 without q/k/v biases).
#pragma once

#include "ptq/core/fields.hpp"

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

}  // namespace ptq
