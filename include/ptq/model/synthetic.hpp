/// @file Random-weight Qwen2 models of any shape (e.g. Qwen2.5-0.5B or -7B) for benchmarks and tests.
///
///   auto m = ptq::make_synthetic_qwen2(ptq::qwen25_shape("0.5B"), 1234);   // bf16 weights, std 0.02
#pragma once

#include "ptq/core/rng.hpp"
#include "ptq/model/qwen2.hpp"

#include <omp.h>

#include <memory>
#include <string>
#include <vector>

namespace ptq {

/// Qwen2.5 base-model shapes (from their config.json files): "0.5B", "7B".
inline Qwen2Config qwen25_shape(const std::string& size) {
  Qwen2Config c;
  c.rope_theta = 1e6;
  c.bos_token_id = c.eos_token_id = 151643;
  if (size == "0.5B") {
    c.hidden_size = 896; c.intermediate_size = 4864; c.num_hidden_layers = 24;
    c.num_attention_heads = 14; c.num_key_value_heads = 2; c.vocab_size = 151936;
    c.max_position_embeddings = 32768; c.tie_word_embeddings = true;
  } else if (size == "7B") {
    c.hidden_size = 3584; c.intermediate_size = 18944; c.num_hidden_layers = 28;
    c.num_attention_heads = 28; c.num_key_value_heads = 4; c.vocab_size = 152064;
    c.max_position_embeddings = 131072; c.tie_word_embeddings = false;
  } else {
    throw Error("", size, "unknown Qwen2.5 size (0.5B, 7B)");
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  validate(c, "qwen25_shape(" + size + ")");
  return c;
}

/// A model with N(0, std^2) bf16 weights, norms 1 and small biases; deterministic in `seed`.
inline Qwen2Model make_synthetic_qwen2(const Qwen2Config& c, std::uint64_t seed, float std = 0.02f) {
  struct Storage { std::vector<Buffer<bf16>> tensors; };
  auto storage = std::make_shared<Storage>();
  std::uint64_t stream = 0;
  auto matrix = [&](const std::string& name, std::int64_t rows, std::int64_t cols) {
    Buffer<bf16> b(static_cast<std::size_t>(rows * cols));
    const std::uint64_t s = seed * 1000003 + stream++;
#pragma omp parallel for
    for (std::int64_t r = 0; r < rows; ++r) {
      Rng rng(s * 0x100000001b3ull + static_cast<std::uint64_t>(r));
      for (std::int64_t j = 0; j < cols; ++j) b[r * cols + j] = to_bf16(std * rng.normal());
    }
    storage->tensors.push_back(std::move(b));
    return TensorRef{name, DType::kBF16, {rows, cols}, reinterpret_cast<const std::byte*>(storage->tensors.back().data())};
  };
  Rng rng(seed);
  auto bias = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = c.attention_bias ? 0.02f * rng.normal() : 0.0f;
    return c.attention_bias ? v : std::vector<float>{};
  };
  const std::int64_t h = c.hidden_size;
  Qwen2Weights w;
  w.embed_tokens = matrix("model.embed_tokens.weight", c.vocab_size, h);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    Qwen2Layer layer;
    layer.input_layernorm.assign(static_cast<std::size_t>(h), 1.0f);
    layer.post_attention_layernorm.assign(static_cast<std::size_t>(h), 1.0f);
    constexpr auto members = linear_members<Qwen2Layer>();
    for (std::size_t s = 0; s < members.size(); ++s) {  // weight, then bias: the generator's order
      const LinearShape shape = linear_shape(c, s);
      Linear& lin = layer.*members[s];
      lin.weight = matrix(p + kLinearNames[s] + ".weight", shape.out, shape.in);
      if (shape.bias) lin.bias = bias(shape.out);
    }
    w.layers.push_back(std::move(layer));
  }
  w.norm.assign(static_cast<std::size_t>(h), 1.0f);
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens : matrix("lm_head.weight", c.vocab_size, h);
  return Qwen2Model(c, std::move(w), std::move(storage));
}

}  // namespace ptq
