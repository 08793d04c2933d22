// The Qwen2 forward pass against the reference implementation (transformers, float32) and known outputs.
#include "ptq/model/llama2c.hpp"
#include "ptq/model/qwen2.hpp"

#include "test_util.hpp"

#include <omp.h>

#include <cmath>
#include <fstream>
#include <iterator>

using ptq::test::data_dir;
using ptq::test::shared_dir;

namespace {

/// A tiny random model's logits against transformers' (float32) for each golden sequence: max |diff|, max |ref|.
struct LogitsDiff {
  std::size_t tokens;
  double max_diff, max_ref;
};
std::vector<LogitsDiff> tiny_logits_diffs(const std::string& name) {
  const auto model = ptq::Qwen2Model::load(data_dir() / name);
  CHECK(model.config().tie_word_embeddings == (name == "tiny_qwen2_tied"));
  const auto golden = ptq::test::open_golden(data_dir() / name / "golden.safetensors");
  std::vector<LogitsDiff> diffs;
  for (int i = 0; golden.find(fmt::format("ids_{}", i)); ++i) {
    const auto ids = ptq::test::tensor_values<std::int32_t>(golden.at(fmt::format("ids_{}", i)));
    const auto ref = ptq::test::tensor_values<float>(golden.at(fmt::format("logits_{}", i)));
    const auto out = model.logits(ids);
    REQUIRE(out.size() == ref.size());
    LogitsDiff d{ids.size(), 0, 0};
    for (std::size_t j = 0; j < ref.size(); ++j) {
      REQUIRE(std::isfinite(out[j]));
      d.max_diff = std::max(d.max_diff, static_cast<double>(std::fabs(out[j] - ref[j])));
      d.max_ref = std::max(d.max_ref, static_cast<double>(std::fabs(ref[j])));
    }
    diffs.push_back(d);
  }
  return diffs;
}

/// qwen2-micro's log-probabilities of 1,023 WikiText-2 tokens against transformers' (float32).
struct LogprobDiff {
  double max_diff, nll, ref_nll;  // mean NLLs
};
LogprobDiff micro_logprob_diff(const ptq::Qwen2Model& model) {
  const auto golden = ptq::test::open_golden(data_dir() / "qwen2_micro_wikitext.safetensors");
  const auto ids = ptq::test::tensor_values<std::int32_t>(golden.at("ids"));
  const auto ref = ptq::test::tensor_values<float>(golden.at("logprobs"));
  REQUIRE(ids.size() == 1024);
  std::vector<std::int32_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(0);
  const auto scores = model.score(ids, targets);
  LogprobDiff d{0, 0, 0};
  for (std::size_t t = 0; t + 1 < ids.size(); ++t) {
    d.max_diff = std::max(d.max_diff, static_cast<double>(std::fabs(scores[t].logprob - ref[t])));
    d.nll -= scores[t].logprob / 1023;
    d.ref_nll -= ref[t] / 1023.0;
  }
  return d;
}

/// Whether qwen2-micro scores its first 300 golden tokens bitwise the same on 1 and on 2 threads.
bool same_on_one_and_two_threads(const ptq::Qwen2Model& model) {
  const auto golden = ptq::test::open_golden(data_dir() / "qwen2_micro_wikitext.safetensors");
  auto ids = ptq::test::tensor_values<std::int32_t>(golden.at("ids"));
  ids.resize(300);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = model.score(ids, ids);
  omp_set_num_threads(2);
  const auto two = model.score(ids, ids);
  omp_set_num_threads(saved);
  for (std::size_t t = 0; t < ids.size(); ++t)
    if (one[t].logprob != two[t].logprob) return false;
  return true;
}

}  // namespace

TEST_CASE("Qwen2 logits match transformers on tiny random models", "[model][qwen2][golden]") {
  // tied/F32/GQA 4:2/theta 1e6 and untied/BF16/GQA 8:2/theta 1e4, all with non-zero q/k/v biases.
  const std::string name = GENERATE("tiny_qwen2_tied", "tiny_qwen2_untied");
  INFO(name);
  for (const LogitsDiff& d : tiny_logits_diffs(name)) {
    INFO(d.tokens << " tokens: max |diff| " << d.max_diff << ", max |ref| " << d.max_ref);
    CHECK(d.max_ref > 0.5);  // a non-trivial reference
    CHECK(d.max_diff <= 1e-4);
  }
}

TEST_CASE("fused target log-probabilities equal log_softmax of the full logits", "[model][qwen2]") {
  const auto model = ptq::Qwen2Model::load(data_dir() / "tiny_qwen2_untied");
  const auto golden = ptq::test::open_golden(data_dir() / "tiny_qwen2_untied/golden.safetensors");
  const auto ids = ptq::test::tensor_values<std::int32_t>(golden.at("ids_2"));
  const auto logits = model.logits(ids);
  std::vector<std::int32_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(ids[0]);
  const auto scores = model.score(ids, targets);
  const std::int64_t v = model.config().vocab_size;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const float* row = logits.data() + t * v;
    double mx = *std::max_element(row, row + v), sum = 0;
    for (std::int64_t j = 0; j < v; ++j) sum += std::exp(row[j] - mx);
    const double ref = row[targets[t]] - mx - std::log(sum);
    CHECK(scores[t].logprob == Approx(ref).margin(1e-5));
    CHECK(scores[t].is_greedy == (std::max_element(row, row + v) - row == targets[t]));
  }
}

TEST_CASE("qwen2-micro: log-probabilities of 1,024 WikiText-2 tokens match transformers", "[model][qwen2][micro]") {
  const LogprobDiff d = micro_logprob_diff(ptq::Qwen2Model::load(shared_dir() / "models/qwen2-micro"));
  INFO("max |diff| " << d.max_diff << ", mean nll " << d.nll);
  CHECK(d.max_diff <= 1e-3);
  CHECK(d.nll == Approx(6.04286).margin(1e-4));  // transformers' mean NLL (make_qwen2_golden.py prints it)
  CHECK(d.ref_nll == Approx(6.04286).margin(1e-5));
}

TEST_CASE("forward pass is bitwise identical with 1 and 2 threads", "[model][qwen2][determinism]") {
  CHECK(same_on_one_and_two_threads(ptq::Qwen2Model::load(shared_dir() / "models/qwen2-micro")));
}

TEST_CASE("the bf16 path: logits and log-probabilities near transformers' float32 ones, deterministic",
          "[model][qwen2][bf16]") {
  // Every linear's input and weight rounded to bf16 (2^-9 relative), sums in float32 (docs/reliability.md).
  ptq::test::ScopedMatmulPath bf16(ptq::ref::MatmulPath::kBf16);
  INFO(ptq::ref::matmul_path_info());
  for (const std::string name : {"tiny_qwen2_tied", "tiny_qwen2_untied"})
    for (const LogitsDiff& d : tiny_logits_diffs(name)) {
      INFO(name << ", " << d.tokens << " tokens: max |diff| " << d.max_diff << ", max |ref| " << d.max_ref);
      CHECK(d.max_diff <= 0.05 * d.max_ref);  // measured up to 0.023 x (random weights, hidden size 64)
    }
  const auto model = ptq::Qwen2Model::load(shared_dir() / "models/qwen2-micro");
  const LogprobDiff d = micro_logprob_diff(model);
  INFO("qwen2-micro: max |diff| " << d.max_diff << ", mean nll " << d.nll << " vs " << d.ref_nll);
  CHECK(d.max_diff <= 0.15);                           // measured 0.055
  CHECK(std::fabs(d.nll - d.ref_nll) <= 2e-4 * d.ref_nll);  // measured 3.8e-5 relative
  CHECK(same_on_one_and_two_threads(model));  // panels of fixed size, each one thread's product
}

TEST_CASE("stories260K: greedy decoding from BOS reproduces llama2.c's 200 tokens", "[model][llama][stories]") {
  const auto dir = shared_dir() / "models/stories260K";
  const auto model = ptq::load_llama2c(dir / "stories260K.bin");
  CHECK(model.config().vocab_size == 512);
  CHECK(model.config().num_key_value_heads == 4);
  std::ifstream in(dir / "expected_greedy_200steps_ids.txt");
  const std::vector<std::int32_t> expected{std::istream_iterator<std::int32_t>(in), {}};
  REQUIRE(expected.size() == 201);  // BOS + 200 tokens
  const auto out = model.generate_greedy({expected[0]}, 200);
  CHECK(out == expected);
}
