/// @file Reads a llama2.c checkpoint (legacy version-0 export, e.g. stories260K.bin) as a Qwen2Model.
///
/// Llama 2 is Qwen2 without q/k/v biases. llama2.c stores RoPE in the interleaved-pair convention, so
/// the rows of wq and wk are permuted inside each head to Hugging Face's rotate-half layout:
/// new row j < d/2 <- old row 2j, new row d/2 + j <- old row 2j + 1. Theta 10000, eps 1e-5.
/// Layout: 7 x int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then
/// float32 arrays; vocab_size > 0 means the classifier is tied to the embedding.
#pragma once

#include "ptq/io/file.hpp"
#include "ptq/model/qwen2.hpp"

#include <cstring>
#include <memory>
#include <vector>

namespace ptq {

inline Qwen2Model load_llama2c(const fs::path& path) {
  const std::string file = path.string();
  MappedFile mf(path);
  const auto bytes = mf.bytes();
  check(bytes.size() >= 28, file, "header", "truncated: {} bytes, the header needs 28", bytes.size());
  std::int32_t hdr[7];
  std::memcpy(hdr, bytes.data(), sizeof hdr);
  const auto [dim, hidden, layers, heads, kv_heads, vocab_signed, seq_len] =
      std::array<std::int32_t, 7>{hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5], hdr[6]};
  Qwen2Config c;
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = dim;
  c.intermediate_size = hidden;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = heads > 0 ? dim / heads : 0;
  c.vocab_size = vocab_signed < 0 ? -vocab_signed : vocab_signed;
  c.max_position_embeddings = seq_len;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = vocab_signed > 0;
  c.attention_bias = false;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.torch_dtype = "float32";
  validate(c, file);

  const std::int64_t h = dim, kv = static_cast<std::int64_t>(kv_heads) * c.head_dim, inter = hidden, v = c.vocab_size;
  const std::int64_t L = layers, d = c.head_dim;
  // Floats in file order (llama2.c run.c memory_map_weights).
  const std::int64_t need = v * h + L * h + L * h * h + 2 * L * kv * h + L * h * h + L * h + 3 * L * inter * h + h +
                            static_cast<std::int64_t>(seq_len) * d + (c.tie_word_embeddings ? 0 : v * h);
  const auto have = static_cast<std::int64_t>((bytes.size() - 28) / 4);
  check(have >= need, file, "weights", "truncated: {} floats after the header, the shapes need {}", have, need);

  auto storage = std::make_shared<Buffer<float>>(static_cast<std::size_t>(have));
  std::memcpy(storage->data(), bytes.data() + 28, static_cast<std::size_t>(have) * 4);
  float* p = storage->data();
  auto take = [&](std::int64_t n) { float* r = p; p += n; return r; };
  auto view = [](const std::string& name, float* data, Shape shape) {
    return TensorRef{name, DType::kF32, std::move(shape), reinterpret_cast<const std::byte*>(data)};
  };
  auto to_rotate_half = [&](float* w, std::int64_t rows) {  // per head of d rows
    std::vector<float> tmp(static_cast<std::size_t>(d * h));
    for (std::int64_t head = 0; head < rows / d; ++head) {
      float* base = w + head * d * h;
      for (std::int64_t j = 0; j < d / 2; ++j) {
        std::memcpy(&tmp[j * h], base + 2 * j * h, h * 4);
        std::memcpy(&tmp[(d / 2 + j) * h], base + (2 * j + 1) * h, h * 4);
      }
      std::memcpy(base, tmp.data(), tmp.size() * 4);
    }
  };

  Qwen2Weights w;
  w.embed_tokens = view("tok_embeddings", take(v * h), {v, h});
  w.layers.resize(static_cast<std::size_t>(L));
  auto per_layer = [&](const char* name, std::int64_t rows, std::int64_t cols, auto assign) {
    for (std::int64_t l = 0; l < L; ++l) assign(w.layers[l], view(fmt::format("layers.{}.{}", l, name), take(rows * cols), {rows, cols}));
  };
  auto vec = [](const TensorRef& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    to_float(t, 0, out);
    return out;
  };
  per_layer("attention_norm", 1, h, [&](Qwen2Layer& l, TensorRef t) { l.input_layernorm = vec(t); });
  per_layer("wq", h, h, [&](Qwen2Layer& l, TensorRef t) {
    to_rotate_half(const_cast<float*>(reinterpret_cast<const float*>(t.data)), h);
    l.q_proj.weight = t;
  });
  per_layer("wk", kv, h, [&](Qwen2Layer& l, TensorRef t) {
    to_rotate_half(const_cast<float*>(reinterpret_cast<const float*>(t.data)), kv);
    l.k_proj.weight = t;
  });
  per_layer("wv", kv, h, [&](Qwen2Layer& l, TensorRef t) { l.v_proj.weight = t; });
  per_layer("wo", h, h, [&](Qwen2Layer& l, TensorRef t) { l.o_proj.weight = t; });
  per_layer("ffn_norm", 1, h, [&](Qwen2Layer& l, TensorRef t) { l.post_attention_layernorm = vec(t); });
  per_layer("w1", inter, h, [&](Qwen2Layer& l, TensorRef t) { l.gate_proj.weight = t; });
  per_layer("w2", h, inter, [&](Qwen2Layer& l, TensorRef t) { l.down_proj.weight = t; });
  per_layer("w3", inter, h, [&](Qwen2Layer& l, TensorRef t) { l.up_proj.weight = t; });
  w.norm = vec(view("norm", take(h), {h}));
  take(static_cast<std::int64_t>(seq_len) * d);  // freq_cis_real and _imag: RoPE is computed on the fly
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens : view("output", take(v * h), {v, h});
  return Qwen2Model(std::move(c), std::move(w), std::move(storage));
}

}  // namespace ptq
