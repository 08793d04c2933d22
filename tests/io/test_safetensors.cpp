// safetensors reader/writer: round trips, sharded folders and every class of corrupt file.
#include "ptq/io/safetensors.hpp"

#include "test_util.hpp"

#include <fstream>

namespace {

using ptq::test::TempDir;

// A file with the given header text (no padding added) followed by `data_bytes` bytes.
void write_raw(const std::filesystem::path& p, const std::string& header, std::size_t data_bytes,
               std::optional<std::uint64_t> declared_len = std::nullopt) {
  std::ofstream out(p, std::ios::binary);
  const std::uint64_t n = declared_len.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
}

std::vector<std::byte> as_bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace

TEST_CASE("safetensors: write then read back every tensor and the metadata", "[io][safetensors]") {
  TempDir dir;
  const std::vector<float> a{1, 2, 3, 4, 5, 6};
  std::vector<std::byte> b(5 * 2);
  for (int i = 0; i < 5; ++i) { auto h = ptq::to_bf16(0.5f * i); std::memcpy(&b[2 * i], &h, 2); }
  const std::vector<std::byte> empty;
  const auto ab = as_bytes(a);
  ptq::write_safetensors(dir / "m.safetensors",
                         {{"w.a", ptq::DType::kF32, {2, 3}, ab}, {"w.b", ptq::DType::kBF16, {5}, b},
                          {"w.empty", ptq::DType::kI32, {0, 4}, empty}},
                         {{"format", "pt"}});
  ptq::SafetensorsFile f(dir / "m.safetensors");
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.metadata().at("format") == "pt");
  const auto& ta = f.at("w.a");
  CHECK(ta.shape == ptq::Shape{2, 3});
  CHECK(ptq::test::tensor_values<float>(ta) == a);
  CHECK(ptq::load_float(f.at("w.b"), 4) == 2.0f);
  CHECK(f.at("w.empty").numel() == 0);
  CHECK(f.find("nope") == nullptr);
  PTQ_REQUIRE_ERROR(f.at("nope"), "m.safetensors", "nope", "not found");
  // No temporary file is left behind by the atomic write.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
}

TEST_CASE("safetensors: reads a file written by the reference writer", "[io][safetensors]") {
  // tests/data/tiny_qwen2_tied/model.safetensors was written by Hugging Face safetensors (PyPI).
  ptq::SafetensorsFile f(ptq::test::data_dir() / "tiny_qwen2_tied/model.safetensors");
  const auto& emb = f.at("model.embed_tokens.weight");
  CHECK(emb.dtype == ptq::DType::kF32);
  CHECK(emb.shape == ptq::Shape{256, 64});
  CHECK(f.metadata().count("format") == 1);
}

TEST_CASE("safetensors: sharded folders follow model.safetensors.index.json", "[io][safetensors]") {
  TempDir dir;
  const auto x = as_bytes({1, 2}), y = as_bytes({3, 4, 5});
  ptq::write_safetensors(dir / "model-00001-of-00002.safetensors", {{"x", ptq::DType::kF32, {2}, x}});
  ptq::write_safetensors(dir / "model-00002-of-00002.safetensors", {{"y", ptq::DType::kF32, {3}, y}});
  auto write_index = [&](const std::string& text) {
    std::ofstream(dir / "model.safetensors.index.json") << text;
  };
  write_index(R"({"metadata": {"total_size": 20}, "weight_map": {"x": "model-00001-of-00002.safetensors",
                  "y": "model-00002-of-00002.safetensors"}})");
  auto store = ptq::TensorStore::open(dir.path());
  CHECK(ptq::load_float(store.at("y"), 2) == 5.0f);
  CHECK(store.names() == std::vector<std::string>{"x", "y"});
  PTQ_REQUIRE_ERROR(store.at("z"), "z", "missing", "index");

  write_index(R"({"weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00001-of-00002.safetensors"}})");
  PTQ_REQUIRE_ERROR(ptq::TensorStore::open(dir.path()), "model.safetensors.index.json", "y", "lacks it");
  write_index(R"({"weight_map": {"x": "model-00009-of-00009.safetensors"}})");
  PTQ_REQUIRE_ERROR(ptq::TensorStore::open(dir.path()), "x", "does not exist");
  write_index(R"({"weight_map": {"x": "../outside.safetensors"}})");
  PTQ_REQUIRE_ERROR(ptq::TensorStore::open(dir.path()), "not a file name");
  write_index("{not json");
  PTQ_REQUIRE_ERROR(ptq::TensorStore::open(dir.path()), "model.safetensors.index.json", "JSON");
  std::filesystem::remove(dir / "model.safetensors.index.json");
  PTQ_REQUIRE_ERROR(ptq::TensorStore::open(dir.path()), "no model.safetensors");
}

TEST_CASE("safetensors: corrupt files get errors naming the file, the tensor and the problem", "[io][safetensors]") {
  TempDir dir;
  const auto p = dir / "bad.safetensors";
  auto open = [&] { return ptq::SafetensorsFile(p); };

  SECTION("shorter than the length prefix") {
    std::ofstream(p, std::ios::binary) << "abc";
    PTQ_REQUIRE_ERROR(open(), "bad.safetensors", "truncated", "3 bytes");
  }
  SECTION("empty file") {
    std::ofstream(p, std::ios::binary).flush();
    PTQ_REQUIRE_ERROR(open(), "truncated", "0 bytes");
  }
  SECTION("header length beyond the file") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 5000);
    PTQ_REQUIRE_ERROR(open(), "header length 5000", "past the end");
  }
  SECTION("absurd header length") {
    write_raw(p, "{}", 0, 1ull << 40);
    PTQ_REQUIRE_ERROR(open(), "exceeds");
  }
  SECTION("truncated data: offsets out of range") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
    PTQ_REQUIRE_ERROR(open(), "bad.safetensors", "a", "out of range", "8 bytes");
  }
  SECTION("overlapping tensors") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
    PTQ_REQUIRE_ERROR(open(), "b", "overlap");
  }
  SECTION("gap between tensors") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12);
    PTQ_REQUIRE_ERROR(open(), "b", "gap of 4 bytes");
  }
  SECTION("bytes after the last tensor") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 10);
    PTQ_REQUIRE_ERROR(open(), "6 bytes after the last tensor");
  }
  SECTION("unknown dtype") {
    write_raw(p, R"({"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})", 4);
    PTQ_REQUIRE_ERROR(open(), "a", "unknown dtype \"F7\"");
  }
  SECTION("shape x dtype disagrees with the byte length") {
    write_raw(p, R"({"a":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,8]}})", 8);
    PTQ_REQUIRE_ERROR(open(), "a", "[3, 2]", "needs 12 bytes", "give 8");
  }
  SECTION("negative dimension") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
    PTQ_REQUIRE_ERROR(open(), "a", "non-negative");
  }
  SECTION("shape overflowing 64 bits") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4);
    PTQ_REQUIRE_ERROR(open(), "a", "overflows");
  }
  SECTION("header is not JSON") {
    write_raw(p, R"({"a": {"dtype": "F32", )", 0);
    PTQ_REQUIRE_ERROR(open(), "bad.safetensors", "not valid JSON");
  }
  SECTION("header is JSON but not an object") {
    write_raw(p, "[1, 2]", 0);
    PTQ_REQUIRE_ERROR(open(), "not a JSON object");
  }
  SECTION("entry missing data_offsets") {
    write_raw(p, R"({"a":{"dtype":"F32","shape":[1]}})", 4);
    PTQ_REQUIRE_ERROR(open(), "a", "data_offsets");
  }
  SECTION("metadata value not a string") {
    write_raw(p, R"({"__metadata__":{"k":1}})", 0);
    PTQ_REQUIRE_ERROR(open(), "__metadata__.k", "not a string");
  }
  SECTION("a missing file") {
    PTQ_REQUIRE_ERROR(ptq::SafetensorsFile(dir / "absent.safetensors"), "absent.safetensors", "cannot open");
  }
}

TEST_CASE("safetensors writer refuses a tensor whose bytes do not match its shape", "[io][safetensors]") {
  TempDir dir;
  const auto x = as_bytes({1, 2, 3});
  PTQ_REQUIRE_ERROR(ptq::write_safetensors(dir / "o.safetensors", {{"x", ptq::DType::kF32, {2, 2}, x}}), "x",
                    "needs 16 bytes, got 12");
  CHECK_FALSE(std::filesystem::exists(dir / "o.safetensors"));
}
