// Checkpoint interoperability: GPTQ v1 and AWQ GEMM checkpoints written by the reference packers read to the
// reference's weights; our exports round-trip exactly; malformed checkpoints are refused with the tensor named.
#include "ptq/eval/perplexity.hpp"
#include "ptq/eval/wikitext.hpp"
#include "ptq/model/save.hpp"
#include "ptq/pipeline/quantize.hpp"

#include "test_util.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

using ptq::test::data_dir;
using ptq::test::shared_dir;
namespace fs = std::filesystem;

namespace {

std::vector<float> dequantized(const ptq::PackedWeight& p) {
  std::vector<float> out(static_cast<std::size_t>(p.n * p.k));
  p.dequantize_rows(0, p.n, out.data());
  return out;
}

void copy_folder(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(to))
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
}

void edit_config(const fs::path& dir, const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(ptq::read_text_file(dir / "config.json"));
  edit(j["quantization_config"]);
  std::ofstream(dir / "config.json") << j.dump(2);
}

/// Rewrites model.safetensors with `edit` applied to the tensor list.
void edit_tensors(const fs::path& dir, const std::function<void(std::vector<ptq::TensorToWrite>&)>& edit) {
  std::vector<std::byte> keep;
  std::vector<ptq::TensorToWrite> tensors;
  {
    const ptq::SafetensorsFile f(dir / "model.safetensors");
    std::size_t total = 0;
    for (const auto& t : f.tensors()) total += t.nbytes();
    keep.resize(total);
    std::size_t at = 0;
    for (const auto& t : f.tensors()) {
      std::memcpy(keep.data() + at, t.data, t.nbytes());
      tensors.push_back({t.name, t.dtype, t.shape, {keep.data() + at, t.nbytes()}});
      at += t.nbytes();
    }
  }
  edit(tensors);
  ptq::write_safetensors(dir / "model.safetensors", std::move(tensors));
}

}  // namespace

TEST_CASE("GPTQ v1 and AWQ GEMM checkpoints packed by the reference packers read to the reference's weights",
          "[interop][golden]") {
  const auto ref = ptq::test::open_golden(data_dir() / "interop/reference_dequant.safetensors");
  for (const std::string c : {"gptq_w4g32s", "gptq_w4g32a_actorder", "gptq_w8g32s", "awq_w4g32a"}) {
    INFO(c);
    const auto model = ptq::Qwen2Model::load(data_dir() / "interop" / c);
    int checked = 0;
    for (std::size_t l = 0; l < model.weights().layers.size(); ++l)
      ptq::for_each_linear(model.weights().layers[l], [&](const char* name, const ptq::Linear& lin) {
        REQUIRE(lin.packed);
        const auto expected = ptq::test::tensor_values<float>(ref.at(fmt::format("{}.model.layers.{}.{}", c, l, name)));
        CHECK(dequantized(*lin.packed) == expected);
        CHECK(lin.packed->g_idx.empty() == (c.find("actorder") == std::string::npos));
        ++checked;
      });
    CHECK(checked == 14);
  }
}

TEST_CASE("quantize, export in every format, import: identical weights and perplexity", "[interop][roundtrip]") {
  const auto dir = shared_dir() / "models/qwen2-micro";
  const auto tok = ptq::Tokenizer::load(dir);
  const auto test_ids = tok.encode(ptq::read_corpus(shared_dir() / "data/wikitext-2-raw-v1/test.jsonl"));
  const auto calib = ptq::calibration_windows(tok.encode(ptq::read_corpus(shared_dir() / "data/wikitext-2-raw-v1/validation.jsonl")),
                                              {8, 256, 0});
  const ptq::ScoringOptions quiet{2048, false};
  struct Run { ptq::Method method; ptq::QuantSpec spec; bool act_order; };
  for (const Run& run : {Run{ptq::Method::kRtn, {4, 128, ptq::Symmetry::kSymmetric}, false},
                         Run{ptq::Method::kGptq, {4, 128, ptq::Symmetry::kSymmetric}, true},
                         Run{ptq::Method::kAwq, {4, 128, ptq::Symmetry::kAsymmetric}, false}}) {
    auto model = ptq::Qwen2Model::load(dir);
    ptq::QuantizeOptions opt;
    opt.method = run.method;
    opt.spec = run.spec;
    opt.gptq.act_order = run.act_order;
    opt.progress = false;
    ptq::quantize_model(model, opt, calib);
    const double ppl = ptq::perplexity_gptq(model, test_ids, 512, 2, quiet).ppl;
    ptq::test::TempDir tmp;
    for (const auto format : {ptq::CheckpointFormat::kNative, ptq::CheckpointFormat::kGptq, ptq::CheckpointFormat::kAwq}) {
      INFO(ptq::method_name(run.method) << " -> " << ptq::format_name(format));
      const fs::path out = tmp / std::string(ptq::format_name(format));
      if (format == ptq::CheckpointFormat::kAwq && run.act_order) {  // AWQ GEMM has no g_idx
        PTQ_REQUIRE_ERROR(ptq::save_quantized(model, out, {}, format), "act-order", "cannot be stored");
        CHECK_FALSE(fs::exists(out));  // a failed export leaves nothing behind
        continue;
      }
      ptq::save_quantized(model, out, {}, format);
      const auto loaded = ptq::Qwen2Model::load(out);
      for (std::size_t l = 0; l < model.weights().layers.size(); ++l) {
        auto& a = model.weights().layers[l];
        const auto& b = loaded.weights().layers[l];
        CHECK(a.input_layernorm == b.input_layernorm);  // AWQ's rescaled norms travel too
        CHECK(a.post_attention_layernorm == b.post_attention_layernorm);
        std::vector<const ptq::Linear*> bl;
        ptq::for_each_linear(b, [&](const char*, const ptq::Linear& lin) { bl.push_back(&lin); });
        std::size_t i = 0;
        ptq::for_each_linear(a, [&](const char*, const ptq::Linear& lin) {
          CHECK(dequantized(*lin.packed) == dequantized(*bl[i]->packed));
          CHECK(lin.bias == bl[i]->bias);
          ++i;
        });
      }
      CHECK(ptq::perplexity_gptq(loaded, test_ids, 512, 2, quiet).ppl == ppl);
    }
  }
}

TEST_CASE("sharded export with an index reads back the same model", "[interop][shards]") {
  const auto model = ptq::Qwen2Model::load(data_dir() / "interop/gptq_w4g32s");
  ptq::test::TempDir tmp;
  ptq::save_quantized(model, tmp / "s", {}, ptq::CheckpointFormat::kAwq,
                      100'000);
  const auto index = nlohmann::json::parse(ptq::read_text_file(tmp / "s/model.safetensors.index.json"));
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) shards.insert(file.get<std::string>());
  CHECK(shards.size() > 1);
  CHECK_FALSE(fs::exists(tmp / "s/model.safetensors"));
  const auto loaded = ptq::Qwen2Model::load(tmp / "s");
  const std::vector<std::int32_t> ids{1, 5, 9, 200, 3, 17};
  const auto a = model.logits(ids), b = loaded.logits(ids);
  CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));
}

TEST_CASE("malformed quantized checkpoints are refused with the tensor or field named", "[interop][errors]") {
  ptq::test::TempDir tmp;
  auto fresh = [&](const std::string& c, const std::string& name) {
    const fs::path d = tmp / name;
    copy_folder(data_dir() / "interop" / c, d);
    return d;
  };
  const std::string q0 = "model.layers.0.self_attn.q_proj";

  auto d = fresh("gptq_w4g32s", "bits");
  edit_config(d, [](nlohmann::json& q) { q["bits"] = 5; });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), "quantization_config.bits", "not 5");

  d = fresh("gptq_w4g32s", "group");
  edit_config(d, [](nlohmann::json& q) { q["group_size"] = 64; });  // the tensors were packed with 32
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), q0 + ".qzeros", "shape [2, 8] contradicts bits 4 and group size 64",
                    "expected [1, 8]");

  d = fresh("gptq_w4g32s", "nobits");
  edit_config(d, [](nlohmann::json& q) { q.erase("bits"); });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), "quantization_config.bits", "missing");

  d = fresh("gptq_w4g32s", "marlin");
  edit_config(d, [](nlohmann::json& q) { q["checkpoint_format"] = "marlin"; });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), "checkpoint_format", "\"marlin\" is not supported");

  d = fresh("awq_w4g32a", "gemv");
  edit_config(d, [](nlohmann::json& q) { q["version"] = "gemv"; });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), "quantization_config.version", "\"gemv\"");

  d = fresh("awq_w4g32a", "method");
  edit_config(d, [](nlohmann::json& q) { q["quant_method"] = "bitsandbytes"; });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), "quant_method", "\"bitsandbytes\" checkpoints are not supported");

  d = fresh("gptq_w4g32s", "noqzeros");
  edit_tensors(d, [&](auto& t) { std::erase_if(t, [&](const auto& x) { return x.name == q0 + ".qzeros"; }); });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), q0 + ".qzeros", "missing");

  d = fresh("awq_w4g32a", "shape");
  edit_tensors(d, [&](auto& t) {
    for (auto& x : t)
      if (x.name == q0 + ".qweight") x.shape = {32, 16}, x.bytes = x.bytes.subspan(0, 32 * 16 * 4);
  });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), q0 + ".qweight", "shape [32, 16] contradicts", "expected [64, 8]");

  d = fresh("gptq_w4g32a_actorder", "gidx");
  std::vector<std::int32_t> bad(64, 9);
  edit_tensors(d, [&](auto& t) {
    for (auto& x : t)
      if (x.name == q0 + ".g_idx") x.bytes = std::as_bytes(std::span(bad));
  });
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(d), q0, "g_idx", "entry 0 is 9, outside 0..1");
}
