/// @file Writing a quantized checkpoint folder, atomically: ptq's native format, GPTQ v1 or AWQ GEMM.
///
/// The folder is a Hugging Face model folder: config.json (the original, plus "quantization_config"), the
/// tokenizer files, and model.safetensors (or shards with an index) holding every tensor of the original
/// checkpoint as it was stored except the quantized linears' weights, which are replaced by <name>.qweight,
/// .qzeros, .scales and (act-order, or always for GPTQ) .g_idx in the chosen layout (quant/packed.hpp,
/// checkpoint/format.hpp). Float vectors that the algorithm changed (AWQ folds its scales into norms and biases)
/// are written as F32, so the checkpoint is exactly the model that was evaluated. The folder is written under a
/// temporary name and renamed: a failed export leaves nothing. model/save.hpp writes a loaded Qwen2Model with it.
#pragma once

#include "ptq/checkpoint/format.hpp"
#include "ptq/checkpoint/quantization_config.hpp"
#include "ptq/io/file.hpp"
#include "ptq/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <span>
#include <string>
#include <vector>

namespace ptq {

/// What a quantized model adds to the checkpoint it was loaded from.
struct QuantizedTensors {
  std::map<std::string, const PackedWeight*> packed;            // by module name ("model.layers.0.mlp.up_proj")
  std::map<std::string, const std::vector<float>*> vectors;     // norms and biases now, by tensor name
};

/// Writes the checkpoint in `source_dir` (its tensors in `source`) with `q` applied to `out`, which must not exist
/// yet, in `format`. `info` records how it was made (method, calibration, ...). The packed linears' own schemes
/// go to the config: one, or a mix (mixed precision) as GPTQModel's "dynamic" entries, which AWQ GEMM cannot hold.
/// Tensors go to one model.safetensors, or to shards of at most `max_shard_bytes` with a
/// model.safetensors.index.json when larger.
inline void write_quantized(const fs::path& source_dir, const TensorStore& source, const QuantizedTensors& q,
                            const fs::path& out, const nlohmann::ordered_json& info,
                            CheckpointFormat format = CheckpointFormat::kNative,
                            std::uint64_t max_shard_bytes = 5'000'000'000) {
  check(!fs::exists(out), out.string(), "", "already exists; choose a new output folder");
  std::map<std::string, QuantSpec> specs;
  for (const auto& [prefix, p] : q.packed) specs[prefix] = p->spec;
  check(!specs.empty(), out.string(), "", "the model has no quantized linear to write");
  if (format == CheckpointFormat::kAwq)
    for (const auto& [prefix, s] : specs)
      check(s == specs.begin()->second, out.string(), "awq",
            "AWQ GEMM holds one scheme, and this model mixes {} ({}) with {} ({}); use --format gptq or native",
            config_name(specs.begin()->second), specs.begin()->first, config_name(s), prefix);
  write_folder_atomic(out, [&](const fs::path& tmp) {
    const auto& packed = q.packed;
    bool act_order = false;
    for (const auto& [prefix, p] : packed) act_order = act_order || !p->g_idx.empty();
    std::map<std::string, FormatTensors> converted;  // the packed linears in the output format, alive until written
    for (const auto& [prefix, p] : packed) {
      if (format == CheckpointFormat::kGptq) converted[prefix] = to_gptq(*p, prefix);
      if (format == CheckpointFormat::kAwq) converted[prefix] = to_awq(*p, prefix);
    }

    auto config = nlohmann::ordered_json::parse(read_text_file(source_dir / "config.json"));
    config["quantization_config"] = quantization_config(specs, format, act_order, info);
    write_file_atomic(tmp / "config.json", [&](std::ostream& o) { o << config.dump(2) << "\n"; });
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "generation_config.json"})
      if (fs::exists(source_dir / f)) {
        fs::copy_file(source_dir / f, tmp / f);
        fs::permissions(tmp / f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
      }

    auto bytes = [](const auto& v) { return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(v[0])); };
    std::vector<TensorToWrite> tensors;
    for (const auto& name : source.names()) {
      const auto dot = name.rfind('.');
      const std::string module = name.substr(0, dot), leaf = name.substr(dot + 1);
      if (packed.count(module) && leaf != "bias") continue;  // the linear's stored weight or packed tensors
      const TensorRef& t = source.at(name);
      const auto v = q.vectors.find(name);
      std::vector<float> was;
      if (v != q.vectors.end()) {
        was.resize(v->second->size());
        to_float(t, 0, was);
      }
      if (v != q.vectors.end() && was != *v->second) {
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
