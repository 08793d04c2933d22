/// @file Qwen2 weights bound by name from a checkpoint, with shapes checked against the config.
///
/// Linear weights stay in their stored dtype (views into the mapped checkpoint); norms and biases are
/// small and are converted to float32 once.
#pragma once

#include "ptq/checkpoint/bind.hpp"
#include "ptq/core/parallel.hpp"
#include "ptq/core/tensor.hpp"
#include "ptq/io/safetensors.hpp"
#include "ptq/kernels/ref/linear.hpp"
#include "ptq/model/layer_slots.hpp"
#include "ptq/model/qwen2_config.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace ptq {

struct Linear {
  TensorRef weight;                            // (out_features, in_features), stored dtype (unused once packed)
  std::vector<float> bias;                     // (out_features) or empty
  std::shared_ptr<const PackedWeight> packed;  // quantized weight; when set, the product uses it

  [[nodiscard]] std::int64_t out_features() const { return packed ? packed->n : weight.shape.at(0); }
  [[nodiscard]] std::int64_t in_features() const { return packed ? packed->k : weight.shape.at(1); }
};

/// y (M, out) = x (M, in) · W^T + b, with W dense or packed (dequantized panel by panel).
/// Up to this many input rows, a W4 product reads the packed codes directly (gemv_w4) instead of
/// dequantizing panels: measured on Qwen2.5-7B shapes (bench_matmul), see docs/quantization.md.
inline constexpr std::int64_t kGemvMaxRows = 3;  // gemv costs ~5 ms a row on 7B shapes, fp32 panels ~20-27 ms

inline void apply(const Linear& l, const float* x, std::int64_t m, float* y) {
  if (l.packed && m <= kGemvMaxRows && can_gemv_w4(*l.packed)) {
    gemv_w4(*l.packed, x, m, y);
    if (!l.bias.empty())
      for (std::int64_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < l.bias.size(); ++j) y[i * static_cast<std::int64_t>(l.bias.size()) + j] += l.bias[j];
  } else if (l.packed) {
    ref::linear(x, m, PackedRows{*l.packed}, l.bias, y);
  } else {
    ref::linear(x, m, l.weight, l.bias, y);
  }
}

struct Qwen2Layer {
  std::vector<float> input_layernorm;           // (H)
  Linear q_proj, k_proj, v_proj, o_proj;        // (q_dim, H) (kv_dim, H) (kv_dim, H) (H, q_dim)
  std::vector<float> post_attention_layernorm;  // (H)
  Linear gate_proj, up_proj, down_proj;         // (I, H) (I, H) (H, I)
};

struct Qwen2Weights {
  TensorRef embed_tokens;          // (V, H)
  std::vector<Qwen2Layer> layers;  // L
  std::vector<float> norm;         // (H) final RMSNorm
  TensorRef lm_head;               // (V, H); embed_tokens when tied
};

/// Calls f(name, linear) for the seven linear layers of a block, in execution order (model/layer_slots.hpp).
template <class Layer, class F>
void for_each_linear(Layer& layer, F&& f) {
  constexpr auto members = linear_members<std::remove_const_t<Layer>>();
  for (std::size_t s = 0; s < members.size(); ++s) f(kLinearNames[s], layer.*members[s]);
}

/// Throws naming the tensor and the first non-finite element, if any (float-typed tensors only).
inline void check_finite(const TensorRef& t, const std::string& file) {
  const std::int64_t n = t.numel();
  constexpr std::int64_t kChunk = 1 << 16;
  std::vector<float> buf(kChunk);
  for (std::int64_t b = 0; b < n; b += kChunk) {
    const std::int64_t len = std::min(kChunk, n - b);
    to_float(t, b, {buf.data(), static_cast<std::size_t>(len)});
    for (std::int64_t i = 0; i < len; ++i)
      check(std::isfinite(buf[i]), file, t.name, "element {} is {} (weights must be finite)", b + i, buf[i]);
  }
}

namespace detail {

inline const TensorRef& bind_tensor(const TensorStore& store, const std::string& name, const Shape& expected) {
  const TensorRef& t = store.at(name);
  check(t.dtype == DType::kF32 || t.dtype == DType::kBF16 || t.dtype == DType::kF16, store.dir(), name,
        "dtype {} is not a float type (F32, F16, BF16)", dtype_name(t.dtype));
  check(t.shape == expected, store.dir(), name, "shape {} contradicts config.json (expected {})", shape_str(t.shape),
        shape_str(expected));
  return t;
}

inline std::vector<float> bind_vector(const TensorStore& store, const std::string& name, std::int64_t n) {
  const TensorRef& t = bind_tensor(store, name, {n});
  std::vector<float> out(static_cast<std::size_t>(n));
  to_float(t, 0, out);
  for (std::size_t i = 0; i < out.size(); ++i)
    check(std::isfinite(out[i]), store.dir(), name, "element {} is {} (weights must be finite)", i, out[i]);
  return out;
}

inline Linear bind_linear(const TensorStore& store, const std::string& prefix, std::int64_t out, std::int64_t in,
                          bool bias, const std::optional<QuantizedCheckpoint>& quantized) {
  Linear l;
  const std::optional<QuantSpec> spec = quantized ? quantized->spec_for(prefix) : std::nullopt;
  if (spec && store.find(prefix + ".qweight")) {  // a "-:" dynamic entry: the module is stored unquantized
    l.packed = std::make_shared<const PackedWeight>(bind_packed(store, prefix, out, in, quantized->with_spec(*spec)));
  } else {
    l.weight = bind_tensor(store, prefix + ".weight", {out, in});
  }
  if (bias) l.bias = bind_vector(store, prefix + ".bias", out);
  return l;
}

}  // namespace detail

/// Binds every tensor the forward pass needs; throws on a missing tensor, a wrong shape or dtype, and
/// (when `finite` is set) a NaN or Inf anywhere in the weights.
/// `quantized`: the checkpoint's quantization (native, GPTQ or AWQ layout); linears with packed tensors bind those.
inline Qwen2Weights bind_qwen2_weights(const TensorStore& store, const Qwen2Config& c, bool finite = true,
                                       const std::optional<QuantizedCheckpoint>& quantized = std::nullopt) {
  using detail::bind_linear;
  using detail::bind_vector;
  const std::int64_t h = c.hidden_size, v = c.vocab_size;
  Qwen2Weights w;
  w.embed_tokens = detail::bind_tensor(store, "model.embed_tokens.weight", {v, h});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    Qwen2Layer l;
    l.input_layernorm = bind_vector(store, p + "input_layernorm.weight", h);
    l.post_attention_layernorm = bind_vector(store, p + "post_attention_layernorm.weight", h);
    constexpr auto members = linear_members<Qwen2Layer>();
    for (std::size_t s = 0; s < members.size(); ++s) {
      const LinearShape shape = linear_shape(c, s);
      l.*members[s] = bind_linear(store, p + kLinearNames[s], shape.out, shape.in, shape.bias, quantized);
    }
    w.layers.push_back(std::move(l));
  }
  w.norm = bind_vector(store, "model.norm.weight", h);
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
  } else {
    check(store.find("lm_head.weight") != nullptr, store.dir(), "lm_head.weight",
          "missing, and config.json says tie_word_embeddings: false");
    w.lm_head = detail::bind_tensor(store, "lm_head.weight", {v, h});
  }
  if (finite) {
    std::vector<const TensorRef*> all{&w.embed_tokens};
    if (!c.tie_word_embeddings) all.push_back(&w.lm_head);
    for (auto& l : w.layers)
      for_each_linear(l, [&](const char*, const Linear& lin) { if (!lin.packed) all.push_back(&lin.weight); });
    parallel_tasks(static_cast<std::int64_t>(all.size()), [&](std::int64_t i) { check_finite(*all[i], store.dir()); });
  }
  return w;
}

}  // namespace ptq
