// The tokenizer: tokenizer.json loading on arbitrary text, and the real Qwen2.5 tokenizer's encoder and decoder
// on arbitrary bytes (invalid UTF-8 is an error; valid text round-trips to its NFC form, the tokenizer's normalizer).
#include "fuzz_util.hpp"
#include "ptq/tokenizer/tokenizer.hpp"

#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ptq::Tokenizer qwen = ptq::Tokenizer::load(std::filesystem::path(PTQ_SHARED_DIR) / "tokenizer/qwen2.5");
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto ids = qwen.encode(text);
    if (qwen.decode(ids) != ptq::nfc(text)) std::abort();  // valid UTF-8 round-trips (after NFC)
  } catch (const ptq::Error&) {
  }
  std::vector<std::int32_t> ids(size / 4);
  if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
  try {
    (void)qwen.decode(ids);
  } catch (const ptq::Error&) {
  }
  if (size < 64 * 1024) {
    try {
      (void)ptq::Tokenizer::from_tokenizer_json(text, "tokenizer.json");
    } catch (const ptq::Error&) {
    }
  }
  return 0;
}
