// The safetensors reader (header JSON, offsets, dtypes, shapes) on arbitrary bytes: a clear ptq::Error or a
// valid tensor table whose every tensor lies inside the file, never a crash.
#include "fuzz_util.hpp"
#include "ptq/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = ptq::fuzz::write_file("model.safetensors", data, size);
  try {
    const ptq::SafetensorsFile f(path);
    for (const auto& t : f.tensors()) {
      if (t.nbytes() == 0) continue;
      volatile std::byte first = t.data[0], last = t.data[t.nbytes() - 1];  // in bounds, or ASan reports it
      (void)first, (void)last;
    }
  } catch (const ptq::Error&) {
  }
  return 0;
}
