// The dataset readers (JSONL rows of ARC, HellaSwag, PIQA, Winogrande; WikiText rows) on arbitrary bytes:
// malformed rows are skipped with file:line, never a crash.
#include "fuzz_util.hpp"
#include "ptq/eval/tasks.hpp"
#include "ptq/eval/wikitext.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = ptq::fuzz::write_file("rows.jsonl", data, size);
  auto guarded = [](auto&& f) {
    try {
      f();
    } catch (const ptq::Error&) {
    }
  };
  guarded([&] { (void)ptq::load_arc(path, "arc_easy"); });
  guarded([&] { (void)ptq::load_hellaswag(path); });
  guarded([&] { (void)ptq::load_piqa(path, path); });
  guarded([&] { (void)ptq::load_winogrande(path); });
  guarded([&] { (void)ptq::read_jsonl_field(path, "text"); });
  return 0;
}
