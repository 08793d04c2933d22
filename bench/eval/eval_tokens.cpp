/// @file The work a full leaderboard row asks of a backend: every protocol and task the row binaries run, through a
/// ScoringModel that counts instead of computing (model/backend.hpp), so the numbers are exactly what the harness
/// sends to the CPU or the GPU model: forward passes, tokens, scored rows, and attended (query, key) pairs.
/// docs/cuda.md turns them into the throughput the GPU must reach.
///
///   build/bench/bench_eval_tokens --model ../shared/models/qwen2-micro --data-dir ../shared/data --batch-tokens 16384
/// (qwen2-micro carries the real Qwen2.5 tokenizer, so its counts are Qwen2.5-7B's.) Prints one JSON object.
#include "ptq/eval/harness.hpp"
#include "ptq/leaderboard/record.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace {

struct Work {
  std::int64_t passes = 0, tokens = 0, rows = 0;
  double pairs = 0;  // attended (query, key) pairs: the attention's work
};

/// Scores nothing; counts what it is asked.
class CountingModel {
 public:
  explicit CountingModel(const ptq::Qwen2Config& c) : config_(c) {}
  [[nodiscard]] const ptq::Qwen2Config& config() const { return config_; }
  [[nodiscard]] std::vector<ptq::TokenScore> score(const ptq::ScoreBatch& b) {
    ++work.passes;
    work.tokens += static_cast<std::int64_t>(b.ids.size());
    work.rows += static_cast<std::int64_t>(b.rows.size());
    // A segment is a prefix (branch 0) then its branches, each contiguous: a prefix token at i sees i + 1 keys, a
    // branch token at j of its branch sees the prefix and j + 1 keys.
    const auto& seg = b.layout.segment_begin;
    for (std::size_t s = 0; s + 1 < seg.size(); ++s) {
      double prefix = 0, run = 0;
      for (std::int32_t t = seg[s]; t < seg[s + 1]; ++t) {
        const std::int32_t br = b.layout.branch[static_cast<std::size_t>(t)];
        if (br == 0) {
          work.pairs += ++prefix;
        } else {
          run = t > seg[s] && b.layout.branch[static_cast<std::size_t>(t - 1)] == br ? run + 1 : 1;
          work.pairs += prefix + run;
        }
      }
    }
    return std::vector<ptq::TokenScore>(b.rows.size());
  }
  Work work;

 private:
  ptq::Qwen2Config config_;
};

nlohmann::ordered_json to_json(const Work& w) {
  return {{"passes", w.passes}, {"tokens", w.tokens}, {"scored_rows", w.rows}, {"attended_pairs", w.pairs}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Forward passes, tokens and attention pairs of a full leaderboard row's evaluation"};
  std::string model = "../shared/models/qwen2-micro", data_dir = "../shared/data";
  std::int64_t seqlen = 2048, batch_tokens = 2048, max_length = 4096;
  app.add_option("--model", model, "Model folder (its config.json and tokenizer)")->capture_default_str();
  app.add_option("--data-dir", data_dir, "Evaluation data")->capture_default_str();
  app.add_option("--ppl-seqlen", seqlen, "WikiText-2 window")->capture_default_str();
  app.add_option("--batch-tokens", batch_tokens, "Tokens per forward pass")->capture_default_str();
  app.add_option("--max-length", max_length, "lm-eval max_length (Qwen2.5-7B's harness default: 4096 is not cut)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const ptq::fs::path dir = ptq::resolve_model_dir(model);
    const auto tok = ptq::Tokenizer::load(dir);
    CountingModel m(ptq::load_qwen2_config(dir));
    const ptq::ScoringOptions scoring{batch_tokens, false};
    nlohmann::ordered_json out{{"batch_tokens", batch_tokens}, {"ppl_seqlen", seqlen}};
    const auto ids = tok.encode(ptq::read_corpus(ptq::fs::path(data_dir) / "wikitext-2-raw-v1/test.jsonl"));
    (void)ptq::perplexity_gptq(m, ids, seqlen, 0, scoring);
    out["ppl"] = to_json(m.work);
    Work all = m.work;
    ptq::EvalOptions eo;
    eo.max_length = max_length;
    eo.scoring = scoring;
    for (const auto& t : ptq::kLeaderboardTasks) {
      m.work = {};
      const std::string name(t.name);
      (void)ptq::evaluate_task(m, tok, ptq::load_task(name, data_dir, 0), eo);
      out["tasks"][name] = to_json(m.work);
      all.passes += m.work.passes;
      all.tokens += m.work.tokens;
      all.rows += m.work.rows;
      all.pairs += m.work.pairs;
    }
    out["row"] = to_json(all);
    fmt::print("{}\n", out.dump(2));
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_eval_tokens: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
