/// @file Writing a quantized model as a checkpoint folder in ptq's native format, atomically.
///
/// The folder is a Hugging Face model folder: config.json (the original, plus "quantization_config"),
/// the tokenizer files, and model.safetensors holding every tensor of the original checkpoint as it was
/// stored except the quantized linears' weights, which are replaced by <name>.qweight (I32), .scales (F16),
/// .qzeros (I32) and, with act-order, .g_idx (I32) (layout: quant/packed.hpp). `ptq ppl` / `ptq eval` load it
/// directly. The folder is written under a temporary name and renamed: a failed export leaves nothing.
#pragma once

#include "ptq/io/config_io.hpp"
#include "ptq/io/safetensors.hpp"
#include "ptq/model/qwen2.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace ptq {

/// Writes `model` (loaded from a checkpoint, linears packed) to `out`, which must not exist yet.
/// `info` is merged into quantization_config (method, calibration, ...).
inline void save_quantized(const Qwen2Model& model, const QuantSpec& spec, const fs::path& out,
                           const nlohmann::ordered_json& info) {
  check(model.store() != nullptr, out.string(), "", "only a model loaded from a checkpoint can be saved");
  check(!fs::exists(out), out.string(), "", "already exists; choose a new output folder");
  const fs::path tmp = out.string() + fmt::format(".tmp.{}", ::getpid());
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    auto config = nlohmann::ordered_json::parse(read_text_file(model.dir() / "config.json"));
    nlohmann::ordered_json q{{"quant_method", "ptq"}, {"format_version", 1}, {"bits", spec.bits},
                             {"group_size", spec.group_size}, {"sym", spec.sym()}};
    for (const auto& [k, v] : info.items()) q[k] = v;
    config["quantization_config"] = q;
    write_file_atomic(tmp / "config.json", [&](std::ostream& o) { o << config.dump(2) << "\n"; });
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "generation_config.json"})
      if (fs::exists(model.dir() / f)) {
        fs::copy_file(model.dir() / f, tmp / f);
        fs::permissions(tmp / f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
      }

    // Every stored tensor except the weights that are now packed, then the packed tensors.
    std::map<std::string, const PackedWeight*> packed;
    for (std::size_t l = 0; l < model.weights().layers.size(); ++l)
      for_each_linear(model.weights().layers[l], [&](const char* name, const Linear& lin) {
        if (lin.packed) packed[fmt::format("model.layers.{}.{}", l, name)] = lin.packed.get();
      });
    std::vector<TensorToWrite> tensors;
    for (const auto& name : model.store()->names()) {
      const std::string prefix = name.ends_with(".weight") ? name.substr(0, name.size() - 7) : "";
      if (packed.count(prefix)) continue;
      const TensorRef& t = model.store()->at(name);
      tensors.push_back({name, t.dtype, t.shape, {t.data, t.nbytes()}});
    }
    auto bytes = [](const auto& v) { return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(v[0])); };
    for (const auto& [prefix, p] : packed) {
      tensors.push_back({prefix + ".qweight", DType::kI32, {p->n, p->words_per_row()}, bytes(p->qweight)});
      tensors.push_back({prefix + ".scales", DType::kF16, {p->n, p->groups()}, bytes(p->scales)});
      tensors.push_back({prefix + ".qzeros", DType::kI32, {p->n, p->zero_words_per_row()}, bytes(p->qzeros)});
      if (!p->g_idx.empty()) tensors.push_back({prefix + ".g_idx", DType::kI32, {p->k}, bytes(p->g_idx)});
    }
    write_safetensors(tmp / "model.safetensors", std::move(tensors), {{"format", "pt"}, {"producer", "ptq"}});
    fs::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace ptq
