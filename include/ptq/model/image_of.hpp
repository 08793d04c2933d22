/// @file image_of: a loaded Qwen2Model as a ModelImage (model/image.hpp) for the GPU model, borrowing its tensors.
#pragma once

#include "ptq/core/status.hpp"
#include "ptq/model/image.hpp"
#include "ptq/model/qwen2.hpp"

namespace ptq {

namespace detail {
inline RawTensor raw_of(const TensorRef& t) {
  check(t.shape.size() == 2, t.name, "image", "expected a matrix, got {} dimensions", t.shape.size());
  RawDtype d = RawDtype::kF32;
  switch (t.dtype) {
    case DType::kF32: d = RawDtype::kF32; break;
    case DType::kF16: d = RawDtype::kF16; break;
    case DType::kBF16: d = RawDtype::kBF16; break;
    default: check(false, t.name, "image", "dtype {} is not a float type", dtype_name(t.dtype));
  }
  return {t.data, t.shape[0], t.shape[1], d};
}

inline LinearImage linear_image(const std::string& name, const Linear& l) {
  LinearImage out{name, {}, {}, l.bias.empty() ? nullptr : l.bias.data()};
  if (l.packed) {
    out.packed = l.packed->view();
  } else {
    out.dense = raw_of(l.weight);
  }
  return out;
}
}  // namespace detail

/// The image of `model` (which must outlive it).
inline ModelImage image_of(const Qwen2Model& model) {
  const Qwen2Config& c = model.config();
  const Qwen2Weights& w = model.weights();
  ModelImage img{c.hidden_size, c.intermediate_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                 c.vocab_size, c.rope_theta, c.rms_norm_eps, detail::raw_of(w.embed_tokens), {}, w.norm.data(),
                 detail::raw_of(w.lm_head)};
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const Qwen2Layer& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerImage li;
    li.input_layernorm = l.input_layernorm.data();
    li.post_attention_layernorm = l.post_attention_layernorm.data();
    constexpr auto from = linear_members<Qwen2Layer>();
    constexpr auto to = linear_members<LayerImage>();
    for (std::size_t s = 0; s < from.size(); ++s) li.*to[s] = detail::linear_image(p + kLinearNames[s], l.*from[s]);
    img.layers.push_back(std::move(li));
  }
  return img;
}

}  // namespace ptq
