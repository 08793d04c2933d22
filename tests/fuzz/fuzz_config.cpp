// config.json: the model config and the quantization_config reader on arbitrary text.
#include "fuzz_util.hpp"
#include "ptq/checkpoint/quantization_config.hpp"
#include "ptq/io/model_dir.hpp"
#include "ptq/model/qwen2_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)ptq::parse_qwen2_config(text, "config.json");
  } catch (const ptq::Error&) {
  }
  ptq::fuzz::write_file("config.json", data, size);
  try {
    (void)ptq::load_quantization(ptq::fuzz::scratch());
  } catch (const ptq::Error&) {
  }
  return 0;
}
