#include "ptq/checkpoint/quantization_config.hpp"
#include "ptq/io/model_dir.hpp"
#include "ptq/model/qwen2_config.hpp"

#include "test_util.hpp"

#include <fstream>

namespace {
ptq::Qwen2Config parse(const std::string& text) { return ptq::parse_qwen2_config(text, "cfg.json"); }

const char* kQwen25_7B = R"({
  "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 3584,
  "intermediate_size": 18944, "max_position_embeddings": 131072, "model_type": "qwen2",
  "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "use_sliding_window": false, "vocab_size": 152064, "bos_token_id": 151643, "eos_token_id": 151643,
  "rope_scaling": null})";
}  // namespace

TEST_CASE("config: Qwen2.5-7B's real config.json", "[io][config]") {
  const auto c = parse(kQwen25_7B);
  CHECK(c.hidden_size == 3584);
  CHECK(c.num_key_value_heads == 4);
  CHECK(c.head_dim == 128);
  CHECK(c.kv_dim() == 512);
  CHECK(c.vocab_size == 152064);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.attention_bias);
  CHECK(c.rope_theta == 1e6);
  CHECK(c.max_position_embeddings == 131072);
  // Printed through Boost.PFR with Hugging Face's field names.
  const std::string s = fmt::format("{}", c);
  CHECK_THAT(s, Catch::Contains("num_key_value_heads: 4"));
  CHECK_THAT(s, Catch::Contains("architecture: \"Qwen2ForCausalLM\""));
  int fields = 0;
  ptq::for_each_named_field(c, [&](std::string_view, const auto&) { ++fields; });
  CHECK(fields == 16);
}

TEST_CASE("config: qwen2-micro, a transformers 5 config and a Llama config", "[io][config]") {
  const auto micro = ptq::load_qwen2_config(ptq::test::shared_dir() / "models/qwen2-micro");
  CHECK(micro.tie_word_embeddings);
  CHECK(micro.num_hidden_layers == 6);
  CHECK(micro.head_dim == 32);
  // transformers 5 writes rope_parameters and dtype.
  const auto v5 = ptq::load_qwen2_config(ptq::test::data_dir() / "tiny_qwen2_untied");
  CHECK(v5.rope_theta == 10000.0);
  CHECK(v5.torch_dtype == "bfloat16");
  const auto llama = parse(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172,
      "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512})");
  CHECK_FALSE(llama.attention_bias);
  CHECK(llama.head_dim == 8);
}

TEST_CASE("config: bad files are rejected naming the file and the field", "[io][config]") {
  PTQ_REQUIRE_ERROR(parse("{\"hidden_size\": 64,"), "cfg.json", "not valid JSON");
  PTQ_REQUIRE_ERROR(parse("[]"), "cfg.json", "not a JSON object");
  PTQ_REQUIRE_ERROR(parse(R"({"hidden_size": 64})"), "cfg.json", "intermediate_size", "missing");
  std::string s = kQwen25_7B;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = s;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  PTQ_REQUIRE_ERROR(parse(with("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 5")), "num_key_value_heads",
                    "does not divide");
  PTQ_REQUIRE_ERROR(parse(with("\"hidden_size\": 3584", "\"hidden_size\": \"3584\"")), "hidden_size", "integer");
  PTQ_REQUIRE_ERROR(parse(with("\"vocab_size\": 152064", "\"vocab_size\": 0")), "vocab_size", "positive");
  PTQ_REQUIRE_ERROR(parse(with("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"")), "hidden_act", "silu");
  PTQ_REQUIRE_ERROR(parse(with("Qwen2ForCausalLM", "MistralForCausalLM")), "architectures", "not supported");
  PTQ_REQUIRE_ERROR(parse(with("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4}")),
                    "rope_scaling", "yarn");
  PTQ_REQUIRE_ERROR(parse(with("\"use_sliding_window\": false", "\"use_sliding_window\": true")),
                    "use_sliding_window");
  // Fields of the wrong type or out of range (fuzz_config found the first: nlohmann's type_error escaped).
  PTQ_REQUIRE_ERROR(parse(with("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": 3}")),
                    "rope_scaling.rope_type", "expected a string");
  PTQ_REQUIRE_ERROR(parse(with("\"hidden_size\": 3584", "\"hidden_size\": 4294970880")), "hidden_size",
                    "out of range");  // 2^32 + 3584 would wrap to 3584
  PTQ_REQUIRE_ERROR(parse(with("\"eos_token_id\": 151643", "\"eos_token_id\": [\"</s>\"]")), "eos_token_id",
                    "expected an integer");
  ptq::test::TempDir dir;
  PTQ_REQUIRE_ERROR(ptq::load_qwen2_config(dir.path()), "config.json", "cannot open");
  auto quantized = [&](const std::string& q) {
    std::ofstream(dir / "config.json") << R"({"quantization_config": )" << q << "}";
    return ptq::load_quantization(dir.path());
  };
  CHECK(quantized(R"({"quant_method": "gptq", "bits": 4, "group_size": -1})")->spec.group_size == ptq::kPerChannel);
  PTQ_REQUIRE_ERROR(quantized(R"({"quant_method": 2, "bits": 4, "group_size": 128})"), "config.json",
                    "quantization_config.quant_method", "expected a string");
  PTQ_REQUIRE_ERROR(quantized(R"({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": "yes"})"),
                    "quantization_config.sym", "true/false");
  PTQ_REQUIRE_ERROR(quantized(R"({"quant_method": "ptq", "format_version": "1", "bits": 4, "group_size": 128})"),
                    "quantization_config.format_version", "integer");
  PTQ_REQUIRE_ERROR(quantized(R"({"quant_method": "awq", "bits": 4, "group_size": 128, "version": ["gemm"]})"),
                    "quantization_config.version", "expected a string");
  PTQ_REQUIRE_ERROR(quantized("[4]"), "quantization_config", "expected an object");
}

TEST_CASE("model paths: folders and Hugging Face cache entries", "[io][config]") {
  ptq::test::TempDir dir;
  const auto snap = dir / "models--Qwen--Tiny/snapshots/abc123";
  std::filesystem::create_directories(snap);
  std::filesystem::create_directories(dir / "models--Qwen--Tiny/refs");
  std::ofstream(snap / "config.json") << "{}";
  std::ofstream(dir / "models--Qwen--Tiny/refs/main") << "abc123\n";
  CHECK(ptq::resolve_model_dir(dir / "models--Qwen--Tiny") == snap);
  CHECK(ptq::resolve_model_dir(snap) == snap);
  PTQ_REQUIRE_ERROR(ptq::resolve_model_dir(dir.path()), "config.json", "not found");
  PTQ_REQUIRE_ERROR(ptq::resolve_model_dir(dir / "absent"), "not a folder");
}
