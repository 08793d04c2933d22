/// @file Writing a quantized model as a checkpoint folder, atomically: ptq's native format, GPTQ v1 or AWQ GEMM.
///
/// The folder is a Hugging Face model folder: config.json (the original, plus "quantization_config"), the
/// tokenizer files, and model.safetensors (or shards with an index) holding every tensor of the original
/// checkpoint as it was stored except the quantized linears' weights, which are replaced by <name>.qweight,
/// .qzeros, .scales and (act-order, or always for GPTQ) .g_idx in the chosen layout (quant/packed.hpp,
/// quant/formats.hpp). Norms and biases that the algorithm changed (AWQ folds its scales into them) are written
/// as F32, so the checkpoint is exactly the model that was evaluated. `ptq ppl` / `ptq eval` load all three
/// formats. The folder is written under a temporary name and renamed: a failed export leaves nothing.
#pragma once

#include "ptq/io/config_io.hpp"
#include "ptq/io/safetensors.hpp"
#include "ptq/model/qwen2.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace ptq {

/// The per-layer vectors of the model by checkpoint name: norms and linear biases.
inline std::map<std::string, const std::vector<float>*> layer_vectors(const Qwen2Weights& w) {
  std::map<std::string, const std::vector<float>*> out;
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    out[p + "input_layernorm.weight"] = &w.layers[l].input_layernorm;
    out[p + "post_attention_layernorm.weight"] = &w.layers[l].post_attention_layernorm;
    for_each_linear(w.layers[l], [&](const char* name, const Linear& lin) {
      if (!lin.bias.empty()) out[p + name + ".bias"] = &lin.bias;
    });
  }
  return out;
}

/// Whether `now` differs from the stored tensor's values.
inline bool changed(const TensorRef& stored, const std::vector<float>& now) {
  std::vector<float> was(now.size());
  to_float(stored, 0, was);
  return was != now;
}

/// quantization_config for `format`: ptq's own fields, or the ecosystem's (GPTQ: AutoGPTQ/GPTQModel's v1 keys;
/// AWQ: AutoAWQ's), with `info` merged in (native) or kept under "meta" (ecosystem formats).
inline nlohmann::ordered_json quantization_config(const QuantSpec& spec, CheckpointFormat format, bool act_order,
                                                  const nlohmann::ordered_json& info) {
  nlohmann::ordered_json q;
  switch (format) {
    case CheckpointFormat::kNative:
      q = {{"quant_method", "ptq"}, {"format_version", 1}, {"bits", spec.bits}, {"group_size", spec.group_size},
           {"sym", spec.sym()}};
      for (const auto& [k, v] : info.items()) q[k] = v;
      return q;
    case CheckpointFormat::kGptq:
      q = {{"quant_method", "gptq"}, {"bits", spec.bits},
           {"group_size", spec.group_size == kPerChannel ? -1 : spec.group_size}, {"desc_act", act_order},
           {"sym", spec.sym()}, {"checkpoint_format", "gptq"}, {"true_sequential", true}};
      break;
    case CheckpointFormat::kAwq:
      q = {{"quant_method", "awq"}, {"bits", spec.bits}, {"group_size", spec.group_size}, {"zero_point", true},
           {"version", "gemm"}, {"modules_to_not_convert", nullptr}};
      break;
  }
  q["meta"] = info;
  return q;
}

/// Writes `model` (loaded from a checkpoint, linears packed) to `out`, which must not exist yet, in `format`.
/// `info` records how it was made (method, calibration, ...). Tensors go to one model.safetensors, or to shards
/// of at most `max_shard_bytes` with a model.safetensors.index.json when larger.
inline void save_quantized(const Qwen2Model& model, const QuantSpec& spec, const fs::path& out,
                           const nlohmann::ordered_json& info, CheckpointFormat format = CheckpointFormat::kNative,
                           std::uint64_t max_shard_bytes = 5'000'000'000) {
  check(model.store() != nullptr, out.string(), "", "only a model loaded from a checkpoint can be saved");
  check(!fs::exists(out), out.string(), "", "already exists; choose a new output folder");
  write_folder_atomic(out, [&](const fs::path& tmp) {
    // The packed linears, in the output format (kept alive until written).
    std::map<std::string, const PackedWeight*> packed;
    bool act_order = false;
    for (std::size_t l = 0; l < model.weights().layers.size(); ++l)
      for_each_linear(model.weights().layers[l], [&](const char* name, const Linear& lin) {
        if (!lin.packed) return;
        packed[fmt::format("model.layers.{}.{}", l, name)] = lin.packed.get();
        act_order = act_order || !lin.packed->g_idx.empty();
      });
    std::map<std::string, FormatTensors> converted;
    for (const auto& [prefix, p] : packed) {
      if (format == CheckpointFormat::kGptq) converted[prefix] = to_gptq(*p, prefix);
      if (format == CheckpointFormat::kAwq) converted[prefix] = to_awq(*p, prefix);
    }

    auto config = nlohmann::ordered_json::parse(read_text_file(model.dir() / "config.json"));
    config["quantization_config"] = quantization_config(spec, format, act_order, info);
    write_file_atomic(tmp / "config.json", [&](std::ostream& o) { o << config.dump(2) << "\n"; });
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "generation_config.json"})
      if (fs::exists(model.dir() / f)) {
        fs::copy_file(model.dir() / f, tmp / f);
        fs::permissions(tmp / f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
      }

    auto bytes = [](const auto& v) { return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(v[0])); };
    const std::map<std::string, const std::vector<float>*> vectors = layer_vectors(model.weights());
    std::vector<TensorToWrite> tensors;
    for (const auto& name : model.store()->names()) {
      const auto dot = name.rfind('.');
      const std::string module = name.substr(0, dot), leaf = name.substr(dot + 1);
      if (packed.count(module) && leaf != "bias") continue;  // the linear's stored weight or packed tensors
      const TensorRef& t = model.store()->at(name);
      const auto v = vectors.find(name);
      if (v != vectors.end() && changed(t, *v->second)) {
        tensors.push_back({name, DType::kF32, t.shape, bytes(*v->second)});
      } else {
        tensors.push_back({name, t.dtype, t.shape, {t.data, t.nbytes()}});
      }
    }
    for (const auto& [prefix, p] : packed) {
      if (format == CheckpointFormat::kNative) {
        tensors.push_back({prefix + ".qweight", DType::kI32, {p->n, p->words_per_row()}, bytes(p->qweight)});
        tensors.push_back({prefix + ".scales", DType::kF16, {p->n, p->groups()}, bytes(p->scales)});
        tensors.push_back({prefix + ".qzeros", DType::kI32, {p->n, p->zero_words_per_row()}, bytes(p->qzeros)});
        if (!p->g_idx.empty()) tensors.push_back({prefix + ".g_idx", DType::kI32, {p->k}, bytes(p->g_idx)});
        continue;
      }
      const FormatTensors& c = converted.at(prefix);
      tensors.push_back({prefix + ".qweight", DType::kI32, c.qweight_shape, bytes(c.qweight)});
      tensors.push_back({prefix + ".qzeros", DType::kI32, c.qzeros_shape, bytes(c.qzeros)});
      tensors.push_back({prefix + ".scales", DType::kF16, c.scales_shape, bytes(c.scales)});
      if (!c.g_idx.empty()) tensors.push_back({prefix + ".g_idx", DType::kI32, {p->k}, bytes(c.g_idx)});
    }
    write_sharded(tmp, std::move(tensors), {{"format", "pt"}, {"producer", "ptq"}}, max_shard_bytes);
  });
}

}  // namespace ptq
