// The quantized-checkpoint loader: a tiny GPTQ / AWQ / native model whose model.safetensors is the fuzz input
// (seeded with real checkpoints from tests/data/interop); every tensor, shape, dtype, g_idx and scale is checked
// before use. The config is chosen by the first byte.
#include "fuzz_util.hpp"
#include "ptq/model/qwen2.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char* kConfigs[] = {"gptq_w4g32s", "gptq_w4g32a_actorder", "awq_w4g32a", "gptq_w8g32s"};
  if (size == 0) return 0;
  const std::filesystem::path src = std::filesystem::path(PTQ_TEST_DATA_DIR) / "interop" / kConfigs[data[0] % 4];
  std::filesystem::copy_file(src / "config.json", ptq::fuzz::scratch() / "config.json",
                             std::filesystem::copy_options::overwrite_existing);
  ptq::fuzz::write_file("model.safetensors", data + 1, size - 1);
  try {
    const auto model = ptq::Qwen2Model::load(ptq::fuzz::scratch());
    const std::vector<std::int32_t> ids{1, 2, 3};
    (void)model.logits(ids);
  } catch (const ptq::Error&) {
  }
  return 0;
}
