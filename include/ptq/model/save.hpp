/// @file Saving a loaded Qwen2Model whose linears were quantized as a checkpoint folder (checkpoint/write.hpp).
#pragma once

#include "ptq/checkpoint/write.hpp"
#include "ptq/model/qwen2.hpp"

#include <fmt/format.h>

namespace ptq {

/// The packed linears and the per-layer float vectors (norms, biases) of `w`, by checkpoint name.
inline QuantizedTensors quantized_tensors(const Qwen2Weights& w) {
  QuantizedTensors q;
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    q.vectors[p + "input_layernorm.weight"] = &w.layers[l].input_layernorm;
    q.vectors[p + "post_attention_layernorm.weight"] = &w.layers[l].post_attention_layernorm;
    for_each_linear(w.layers[l], [&](const char* name, const Linear& lin) {
      if (!lin.bias.empty()) q.vectors[p + name + ".bias"] = &lin.bias;
      if (lin.packed) q.packed[p + name] = lin.packed.get();
    });
  }
  return q;
}

/// Writes `model` (loaded from a checkpoint, linears packed) to `out`, which must not exist yet, in `format`;
/// `info` records how it was made (method, calibration, ...).
inline void save_quantized(const Qwen2Model& model, const fs::path& out,
                           const nlohmann::ordered_json& info, CheckpointFormat format = CheckpointFormat::kNative,
                           std::uint64_t max_shard_bytes = 5'000'000'000) {
  check(model.store() != nullptr, out.string(), "", "only a model loaded from a checkpoint can be saved");
  write_quantized(model.dir(), *model.store(), quantized_tensors(model.weights()), out, info, format,
                  max_shard_bytes);
}

}  // namespace ptq
