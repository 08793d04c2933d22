/// @file Encode throughput of the tokenizer on WikiText-2 test (rows joined with "\n\n"), one thread.
///
///   build/bench/bench_tokenize --tokenizer ../shared/tokenizer/qwen2.5 --jsonl ../shared/data/wikitext-2-raw-v1/test.jsonl
/// Prints one JSON object: MB/s of the first (cold BPE cache) run of a fresh tokenizer and the median of
/// --reps warm runs. bench/tokenizer/compare_hf.py runs Hugging Face tokenizers the same way in the same run.
#include "ptq/eval/wikitext.hpp"
#include "ptq/tokenizer/tokenizer.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

int main(int argc, char** argv) {
  CLI::App app{"Tokenizer encode throughput"};
  std::string tokenizer, jsonl;
  int reps = 5;
  app.add_option("--tokenizer", tokenizer)->required();
  app.add_option("--jsonl", jsonl)->required();
  app.add_option("--reps", reps)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    const std::string text = ptq::join_rows(ptq::read_jsonl_field(jsonl, "text"), "\n\n");
    const auto tok = ptq::Tokenizer::load(tokenizer);
    std::vector<double> secs;
    std::size_t count = 0;
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      count = tok.encode(text).size();
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double cold = secs[0];
    secs.erase(secs.begin());
    std::sort(secs.begin(), secs.end());
    const double mb = static_cast<double>(text.size()) / 1e6;
    fmt::print("{{\"impl\": \"ptq\", \"bytes\": {}, \"ids\": {}, \"cold_mb_per_s\": {:.3f}, \"warm_mb_per_s\": {:.3f}}}\n",
               text.size(), count, mb / cold, mb / secs[secs.size() / 2]);
  } catch (const ptq::Error& e) {
    fmt::print(stderr, "bench_tokenize: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
