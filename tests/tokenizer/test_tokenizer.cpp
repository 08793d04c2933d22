// The Qwen2.5 tokenizer against Hugging Face tokenizers: upstream golden vectors, golden files made by
// tools/golden/make_tokenizer_golden.py, round trips, and malformed tokenizer files.
#include "ptq/core/sha256.hpp"
#include "ptq/eval/wikitext.hpp"
#include "ptq/tokenizer/tokenizer.hpp"

#include "test_util.hpp"

#include <fstream>
#include <sstream>

namespace {

const ptq::Tokenizer& qwen() {
  static const ptq::Tokenizer tok = ptq::Tokenizer::load(ptq::test::shared_dir() / "tokenizer/qwen2.5");
  return tok;
}

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(ptq::read_text_file(p)); }

std::vector<std::int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<std::int32_t>>(); }

}  // namespace

TEST_CASE("tokenizer: llama.cpp's 46 Qwen2 test strings", "[tokenizer][golden]") {
  const auto dir = ptq::test::shared_dir() / "tokenizer/qwen2.5/golden";
  const std::string inp = ptq::read_text_file(dir / "ggml-vocab-qwen2.gguf.inp");
  std::istringstream out(ptq::read_text_file(dir / "ggml-vocab-qwen2.gguf.out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::size_t pos = 0, n = 0;
  for (std::size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size(), ++n) {
    const std::string text = inp.substr(pos, hit - pos);
    std::string line;
    std::getline(out, line);
    std::istringstream ls(line);
    const std::vector<std::int32_t> expected{std::istream_iterator<std::int32_t>(ls), {}};
    INFO("case " << n << ": \"" << text << "\"");
    CHECK(qwen().encode(text) == expected);
  }
  CHECK(n == 46);
}

TEST_CASE("tokenizer: transformers' integration cases and the cross-checked extras", "[tokenizer][golden]") {
  const auto dir = ptq::test::shared_dir() / "tokenizer/qwen2.5/golden";
  int n = 0;
  for (const char* file : {"hf_transformers_qwen2_integration.json", "crosschecked_extra.json"}) {
    for (const auto& c : read_json(dir / file)) {
      INFO(file << ": \"" << c["text"].get<std::string>() << "\"");
      CHECK(qwen().encode(c["text"].get<std::string>()) == ids_of(c["ids"]));
      ++n;
    }
  }
  CHECK(n == 12);
}

TEST_CASE("tokenizer: random Unicode strings equal the reference, ids and decoding", "[tokenizer][golden]") {
  const auto golden = read_json(ptq::test::data_dir() / "tokenizer_golden.json");
  int n = 0;
  for (const auto& c : golden["unicode_cases"]) {
    const auto text = c["text"].get<std::string>();
    INFO("case " << n << ": " << nlohmann::json(text).dump());
    const auto ids = qwen().encode(text);
    CHECK(ids == ids_of(c["ids"]));
    CHECK(qwen().decode(ids) == c["decoded"].get<std::string>());
    CHECK(qwen().decode(ids) == ptq::nfc(text));  // round trip up to the NFC normalizer
    ++n;
  }
  CHECK(n == 120);
}

TEST_CASE("tokenizer: WikiText-2 test, joined and page by page, equals the reference", "[tokenizer][golden][wikitext]") {
  const auto golden = read_json(ptq::test::data_dir() / "tokenizer_golden.json");
  const auto wt = ptq::test::shared_dir() / "data/wikitext-2-raw-v1";
  const std::string joined = ptq::join_rows(ptq::read_jsonl_field(wt / "test.jsonl", "text"), "\n\n");
  const auto ids = qwen().encode(joined);
  CHECK(ids.size() == 299078);
  CHECK(ids.size() == golden["wikitext_test_joined"]["count"].get<std::size_t>());
  CHECK(ptq::sha256_ids(ids) == golden["wikitext_test_joined"]["sha256"].get<std::string>());
  CHECK(qwen().decode(ids) == joined);  // round trip on the whole text

  const auto pages = ptq::wikitext_pages(ptq::read_text_file(wt / "wiki.test.raw"));
  const auto& expected = golden["wikitext_test_pages"];
  REQUIRE(pages.size() == 62);
  REQUIRE(expected.size() == 62);
  for (std::size_t i = 0; i < pages.size(); ++i) {
    INFO("page " << i);
    const auto page_ids = qwen().encode(ptq::wikitext_detokenize(pages[i]));
    CHECK(page_ids.size() == expected[i]["count"].get<std::size_t>());
    CHECK(ptq::sha256_ids(page_ids) == expected[i]["sha256"].get<std::string>());
  }
  CHECK(ptq::wikitext_pages(ptq::read_text_file(wt / "wiki.valid.raw")).size() == 60);
}

TEST_CASE("tokenizer: vocab.json + merges.txt + tokenizer_config.json give the same ids", "[tokenizer]") {
  ptq::test::TempDir dir;
  const auto src = ptq::test::shared_dir() / "tokenizer/qwen2.5";
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json"})
    std::filesystem::copy_file(src / f, dir / f);
  const auto slow = ptq::Tokenizer::load(dir.path());
  const std::string text = "<|im_start|>user\nHello, 世界! It's 2024-11-28.<|im_end|>\n  \t done";
  CHECK(slow.encode(text) == qwen().encode(text));
  CHECK(slow.size() == qwen().size());
  CHECK(slow.token_to_id("<|endoftext|>") == 151643);
}

TEST_CASE("tokenizer: special tokens, decoding and lookups", "[tokenizer]") {
  CHECK(qwen().size() == 151665);
  CHECK(qwen().token_to_id("Hello") == 9707);
  CHECK(qwen().token_to_id("<|im_end|>") == 151645);
  CHECK_FALSE(qwen().token_to_id("no such token").has_value());
  const std::vector<std::int32_t> chat{151644, 872, 198, 9707, 151645, 198};
  CHECK(qwen().decode(chat) == "<|im_start|>user\nHello<|im_end|>\n");
  CHECK(qwen().decode(chat, /*skip_special=*/true) == "user\nHello\n");
  // A token sequence that splits a multi-byte character decodes with U+FFFD, as the reference does.
  const auto euro = qwen().encode("\xe2\x82\xac");  // €
  REQUIRE(!euro.empty());
  const auto bytes_of_first = qwen().decode(std::vector<std::int32_t>{euro[0]});
  CHECK((euro.size() == 1 ? bytes_of_first == "\xe2\x82\xac" : bytes_of_first.find("\xef\xbf\xbd") != std::string::npos));
  PTQ_REQUIRE_ERROR(qwen().decode(std::vector<std::int32_t>{200000}), "200000", "not in the vocabulary");
}

TEST_CASE("tokenizer: invalid UTF-8 input is refused with the byte offset", "[tokenizer][errors]") {
  PTQ_REQUIRE_ERROR(qwen().encode("ok \xff bad"), "invalid UTF-8 at byte 3", "0xff");
  PTQ_REQUIRE_ERROR(qwen().encode("lone surrogate \xed\xa0\x80"), "invalid UTF-8 at byte 15");
  PTQ_REQUIRE_ERROR(qwen().encode("overlong \xc0\xaf"), "invalid UTF-8 at byte 9");
  PTQ_REQUIRE_ERROR(qwen().encode("cut \xe4\xb8"), "invalid UTF-8 at byte 4");
  CHECK(ptq::utf8_lossy("a\xe4\xb8z\x80") == "a\xef\xbf\xbdz\xef\xbf\xbd");
}

TEST_CASE("tokenizer: malformed tokenizer files get clear errors", "[tokenizer][errors]") {
  const std::string good = ptq::read_text_file(ptq::test::shared_dir() / "tokenizer/qwen2.5/tokenizer.json");
  auto load = [](const std::string& text) { return ptq::Tokenizer::from_tokenizer_json(text, "tok.json"); };
  SECTION("truncated file") { PTQ_REQUIRE_ERROR(load(good.substr(0, good.size() / 2)), "tok.json", "not valid JSON"); }
  SECTION("empty vocabulary") {
    auto j = nlohmann::json::parse(good);
    j["model"]["vocab"] = nlohmann::json::object();
    j["model"]["merges"] = nlohmann::json::array();
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "model.vocab", "empty");
  }
  SECTION("a merge naming an unknown token") {
    auto j = nlohmann::json::parse(good);
    j["model"]["merges"][5] = j["model"]["merges"][5].is_string() ? nlohmann::json("Ġt zzzunknown")
                                                                  : nlohmann::json({"Ġt", "zzzunknown"});
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "model.merges[5]", "unknown token \"zzzunknown\"");
  }
  SECTION("a vocabulary without the byte alphabet") {
    PTQ_REQUIRE_ERROR(load(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                              "pre_tokenizer": {"type": "ByteLevel"}})"),
                      "tok.json", "no token for byte 0x00");
  }
  SECTION("an unsupported model type") {
    auto j = nlohmann::json::parse(good);
    j["model"]["type"] = "Unigram";
    PTQ_REQUIRE_ERROR(load(j.dump()), "model.type", "Unigram");
  }
  SECTION("optional fields of the wrong type") {  // nlohmann's value() would throw its own type_error
    auto j = nlohmann::json::parse(good);
    j["model"]["byte_fallback"] = "no";
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "model.byte_fallback", "true/false");
    j = nlohmann::json::parse(good);
    j["pre_tokenizer"]["type"] = 7;
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "pre_tokenizer.type", "expected a string");
    j = nlohmann::json::parse(good);
    j["normalizer"] = 1;
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "normalizer", "expected an object");
    j = nlohmann::json::parse(good);
    j["added_tokens"][0]["special"] = 1;
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "added_tokens.special", "true/false");
    j = nlohmann::json::parse(good);
    j["model"]["vocab"]["!"] = 4294967296;  // 2^32 would wrap to 0
    PTQ_REQUIRE_ERROR(load(j.dump()), "tok.json", "model.vocab", "out-of-range id 4294967296");
  }
  SECTION("a regex that does not compile") {
    auto j = nlohmann::json::parse(good);
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
    PTQ_REQUIRE_ERROR(load(j.dump()), "pre_tokenizer.pattern", "does not compile");
  }
  SECTION("a missing file") {
    ptq::test::TempDir dir;
    PTQ_REQUIRE_ERROR(ptq::Tokenizer::load(dir.path()), "no tokenizer.json");
    std::ofstream(dir / "tokenizer.json") << good.substr(0, 1000);
    PTQ_REQUIRE_ERROR(ptq::Tokenizer::load(dir.path()), "tokenizer.json", "not valid JSON");
  }
}
