// Bad checkpoints are refused with messages that name the file, the tensor and the problem.
#include "ptq/model/llama2c.hpp"
#include "ptq/model/qwen2.hpp"
#include "ptq/pipeline/quantize.hpp"

#include "test_util.hpp"

#include <fstream>

namespace {

using ptq::test::TempDir;

// Copies tiny_qwen2_untied into `dir`, rewriting its tensors through `edit(name, dtype, shape, bytes)`.
void copy_model(const std::filesystem::path& dir,
                const std::function<void(std::string&, ptq::DType&, ptq::Shape&, std::vector<std::byte>&)>& edit) {
  const auto src = ptq::test::data_dir() / "tiny_qwen2_untied";
  std::filesystem::copy_file(src / "config.json", dir / "config.json");
  ptq::SafetensorsFile f(src / "model.safetensors");
  std::vector<std::vector<std::byte>> keep;
  std::vector<ptq::TensorToWrite> out;
  for (const auto& t : f.tensors()) {
    std::string name = t.name;
    ptq::DType dtype = t.dtype;
    ptq::Shape shape = t.shape;
    std::vector<std::byte> bytes(t.data, t.data + t.nbytes());
    edit(name, dtype, shape, bytes);
    if (name.empty()) continue;  // dropped
    keep.push_back(std::move(bytes));
    out.push_back({name, dtype, shape, keep.back()});
  }
  ptq::write_safetensors(dir / "model.safetensors", out);
}

}  // namespace

TEST_CASE("model loading: shapes, names, dtypes and values are checked", "[model][errors]") {
  TempDir dir;
  SECTION("an unmodified copy loads") {
    copy_model(dir.path(), [](auto&...) {});
    CHECK_NOTHROW(ptq::Qwen2Model::load(dir.path()));
  }
  SECTION("a shape that contradicts the config") {
    copy_model(dir.path(), [](std::string& n, ptq::DType&, ptq::Shape& s, std::vector<std::byte>&) {
      if (n == "model.layers.1.mlp.up_proj.weight") s = {64, 128};  // stored transposed
    });
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "model.layers.1.mlp.up_proj.weight", "[64, 128]",
                      "contradicts config.json", "[128, 64]");
  }
  SECTION("a missing tensor") {
    copy_model(dir.path(), [](std::string& n, auto&...) { if (n == "model.layers.0.self_attn.k_proj.bias") n.clear(); });
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "model.layers.0.self_attn.k_proj.bias", "missing");
  }
  SECTION("an untied model without lm_head") {
    copy_model(dir.path(), [](std::string& n, auto&...) { if (n == "lm_head.weight") n.clear(); });
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "lm_head.weight", "tie_word_embeddings");
  }
  SECTION("an integer weight") {
    copy_model(dir.path(), [](std::string& n, ptq::DType& d, auto&...) {
      if (n == "model.norm.weight") d = ptq::DType::kI16;
    });
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "model.norm.weight", "I16", "not a float type");
  }
  SECTION("a NaN in a weight") {
    copy_model(dir.path(), [](std::string& n, ptq::DType&, ptq::Shape&, std::vector<std::byte>& b) {
      if (n == "model.layers.1.self_attn.o_proj.weight") { b[2 * 77] = std::byte{0xc0}; b[2 * 77 + 1] = std::byte{0x7f}; }
    });
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "model.layers.1.self_attn.o_proj.weight", "element 77",
                      "nan", "finite");
    CHECK_NOTHROW(ptq::Qwen2Model::load(dir.path(), {.check_finite = false}));
  }
  SECTION("an Inf in a norm") {
    copy_model(dir.path(), [](std::string& n, ptq::DType&, ptq::Shape&, std::vector<std::byte>& b) {
      if (n == "model.norm.weight") { b[0] = std::byte{0x80}; b[1] = std::byte{0x7f}; }
    });
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "model.norm.weight", "inf");
  }
  SECTION("a config that is not JSON") {
    copy_model(dir.path(), [](auto&...) {});
    std::ofstream(dir / "config.json") << "hidden_size = 64";
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "config.json", "not valid JSON");
  }
  SECTION("a truncated checkpoint") {
    copy_model(dir.path(), [](auto&...) {});
    std::filesystem::resize_file(dir / "model.safetensors", 100000);
    PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir.path()), "model.safetensors", "out of range");
  }
}

TEST_CASE("forward pass: token ids outside the vocabulary are refused", "[model][errors]") {
  const auto model = ptq::Qwen2Model::load(ptq::test::data_dir() / "tiny_qwen2_tied");
  const std::vector<std::int32_t> ids{1, 2, 256};
  PTQ_REQUIRE_ERROR(model.logits(ids), "token 256", "position 2");
  PTQ_REQUIRE_ERROR(model.logits(std::vector<std::int32_t>{}), "empty");
  const std::vector<std::int32_t> ok{1, 2, 3}, bad_targets{1, 2, -1};
  PTQ_REQUIRE_ERROR(model.score(ok, bad_targets), "target token -1");
}

TEST_CASE("llama2.c reader: a truncated checkpoint is refused", "[model][errors]") {
  TempDir dir;
  const auto src = ptq::test::shared_dir() / "models/stories260K/stories260K.bin";
  std::filesystem::copy_file(src, dir / "s.bin");
  std::filesystem::resize_file(dir / "s.bin", 500000);
  PTQ_REQUIRE_ERROR(ptq::load_llama2c(dir / "s.bin"), "s.bin", "truncated");
  std::filesystem::resize_file(dir / "s.bin", 10);
  PTQ_REQUIRE_ERROR(ptq::load_llama2c(dir / "s.bin"), "header", "truncated");
}

TEST_CASE("a model or calibration that does not fit in memory is refused up front with the numbers", "[memory]") {
  const auto dir = ptq::test::shared_dir() / "models/qwen2-micro";
  ::setenv("PTQ_MEMORY_AVAILABLE", "1000000", 1);
  PTQ_REQUIRE_ERROR(ptq::Qwen2Model::load(dir), "qwen2-micro", "needs 41.9 MB of memory, 1.0 MB available");
  ::setenv("PTQ_MEMORY_AVAILABLE", "60000000", 1);  // the model fits, 128 x 2048 tokens of AWQ activations do not
  auto model = ptq::Qwen2Model::load(dir);
  ptq::QuantizeOptions opt;
  opt.method = ptq::Method::kAwq;
  opt.progress = false;
  const std::vector<std::vector<std::int32_t>> calib(128, std::vector<std::int32_t>(2048, 5));
  PTQ_REQUIRE_ERROR(ptq::quantize_model(model, opt, calib), "calibration", "128 x 2048 tokens", "needs 1208.0 MB");
  ::unsetenv("PTQ_MEMORY_AVAILABLE");
}
