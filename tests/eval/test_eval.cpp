// The evaluation harness against lm-evaluation-harness and transformers (golden file written by
// tools/golden/make_eval_golden.py), plus the request/window mechanics and malformed data.
#include "ptq/core/sha256.hpp"
#include "ptq/eval/harness.hpp"

#include "test_util.hpp"

#include <fstream>

using ptq::test::data_dir;
using ptq::test::shared_dir;

namespace {

const nlohmann::json& golden() {
  static const nlohmann::json g = nlohmann::json::parse(ptq::read_text_file(data_dir() / "eval_golden.json"));
  return g;
}
const ptq::Qwen2Model& micro() {
  static const ptq::Qwen2Model m = ptq::Qwen2Model::load(shared_dir() / "models/qwen2-micro");
  return m;
}
const ptq::Tokenizer& micro_tok() {
  static const ptq::Tokenizer t = ptq::Tokenizer::load(shared_dir() / "models/qwen2-micro");
  return t;
}
ptq::ScoringOptions quiet() { return {2048, false}; }

/// The task data for a golden key: the six tasks, or "mmlu_<subject>" for one MMLU subject (0-shot).
ptq::TaskData task_for(const std::string& key) {
  if (key.starts_with("mmlu_")) return ptq::load_mmlu(shared_dir() / "data/mmlu/hf_cais_mmlu", 0, {key.substr(5)});
  return ptq::load_task(key, shared_dir() / "data");
}

/// qwen2-micro on the first `docs` documents of a golden task key.
ptq::TaskResult evaluate_golden_docs(const std::string& key, std::size_t docs) {
  ptq::EvalOptions opt;
  opt.limit = docs;
  opt.scoring = quiet();
  ptq::TaskResult r = ptq::evaluate_task(micro(), micro_tok(), task_for(key), opt);
  REQUIRE(r.docs.size() == docs);
  return r;
}

}  // namespace

TEST_CASE("requests: lm-eval's context/continuation strings and their token ids, 200 docs per task",
          "[eval][requests][golden]") {
  for (const auto& [key, docs] : golden()["requests"].items()) {
    INFO("task " << key);
    const ptq::TaskData task = task_for(key);
    REQUIRE(task.docs.size() >= docs.size());
    for (std::size_t d = 0; d < docs.size(); ++d) {
      const ptq::Doc& doc = task.docs[d];
      REQUIRE(docs[d].size() == doc.num_choices());
      for (std::size_t c = 0; c < doc.num_choices(); ++c) {
        INFO("doc " << d << " (" << doc.source << ") choice " << c);
        const auto& g = docs[d][c];
        CHECK(ptq::sha256_hex(doc.context(c)).substr(0, 16) == g["context"].get<std::string>());
        CHECK(ptq::sha256_hex(doc.continuation(c)).substr(0, 16) == g["continuation"].get<std::string>());
        const auto ctx = ptq::py::rstrip(doc.context(c));
        const std::string whole = std::string(doc.context(c)) + doc.continuation(c);
        const auto ctx_ids = micro_tok().encode(ctx), whole_ids = micro_tok().encode(whole);
        CHECK(ctx_ids.size() == g["n_context"].get<std::size_t>());
        CHECK(ptq::sha256_ids(ctx_ids).substr(0, 16) == g["context_ids"].get<std::string>());
        CHECK(whole_ids.size() == g["n_whole"].get<std::size_t>());
        CHECK(ptq::sha256_ids(whole_ids).substr(0, 16) == g["whole_ids"].get<std::string>());
      }
    }
  }
}

TEST_CASE("tasks: log-likelihoods, predictions and metrics equal lm-eval's on qwen2-micro (--limit 100)",
          "[eval][tasks][golden]") {
  for (const auto& [key, expected] : golden()["tasks"].items()) {
    INFO("task " << key);
    const auto& gdocs = expected["docs"];
    const ptq::TaskResult r = evaluate_golden_docs(key, gdocs.size());
    // lm-eval takes log_softmax of float32 logits; over 151,936 logits that is off by ~1e-4 nats per token on
    // CPU. The golden file also has each request through transformers with a float64 log-softmax: we match that
    // within 2e-4, and lm-eval's own number within 1e-3 or, where lm-eval itself is further than that from the
    // float64 value, within lm-eval's own error + 2e-4 (docs/evaluation.md).
    double worst = 0, worst_f64 = 0;
    for (std::size_t d = 0; d < gdocs.size(); ++d) {
      INFO("doc " << d);
      const auto& g = gdocs[d];
      REQUIRE(g["doc_id"].get<std::size_t>() == d);
      const auto lls = g["loglikelihood"].get<std::vector<double>>();
      const auto f64 = g["loglikelihood_f64"].get<std::vector<double>>();
      const auto greedy = g["is_greedy"].get<std::vector<bool>>();
      REQUIRE(r.docs[d].requests.size() == lls.size());
      for (std::size_t c = 0; c < lls.size(); ++c) {
        const auto& q = r.docs[d].requests[c];
        const double tol = std::max(1e-3, std::fabs(lls[c] - f64[c]) + 2e-4);
        worst = std::max(worst, std::fabs(q.loglikelihood - lls[c]) / tol);
        worst_f64 = std::max(worst_f64, std::fabs(q.loglikelihood - f64[c]));
        CHECK(q.loglikelihood == Approx(f64[c]).margin(2e-4));
        CHECK(q.loglikelihood == Approx(lls[c]).margin(tol));
        CHECK(q.is_greedy == greedy[c]);
      }
      CHECK(r.docs[d].acc == (g["acc"].get<double>() == 1.0));
      if (g.contains("acc_norm")) CHECK(r.docs[d].acc_norm == (g["acc_norm"].get<double>() == 1.0));
    }
    std::size_t stderrs = 0;
    for (const auto& [metric, value] : expected["metrics"].items()) stderrs += metric.ends_with("_stderr") && value.is_number();
    CHECK(stderrs > 0);
    INFO("worst |ll - lm-eval| / tolerance = " << worst << ", worst |ll - float64 reference| = " << worst_f64);
    CHECK(worst <= 1.0);
    CHECK(worst_f64 <= 2e-4);
    for (const auto& [metric, value] : expected["metrics"].items()) {
      if (!value.is_number()) continue;  // "N/A": not computed by lm-eval
      const bool is_stderr = metric.ends_with("_stderr");
      const std::string name = is_stderr ? metric.substr(0, metric.size() - 7) : metric;
      INFO("metric " << metric);
      REQUIRE(r.metrics.count(name) == 1);
      const auto& m = r.metrics.at(name);
      CHECK((is_stderr ? m.stderr_ : m.value) == Approx(value.get<double>()).margin(1e-12));
    }
  }
}

TEST_CASE("tasks: results do not depend on how requests are packed into forward passes", "[eval][tasks]") {
  const ptq::TaskData task = ptq::load_task("arc_easy", shared_dir() / "data");
  ptq::EvalOptions small, large;
  small.limit = large.limit = 12;
  small.scoring = {64, false};
  large.scoring = {8192, false};
  const auto a = ptq::evaluate_task(micro(), micro_tok(), task, small);
  const auto b = ptq::evaluate_task(micro(), micro_tok(), task, large);
  for (std::size_t d = 0; d < a.docs.size(); ++d)
    for (std::size_t c = 0; c < a.docs[d].requests.size(); ++c)
      CHECK(a.docs[d].requests[c].loglikelihood == Approx(b.docs[d].requests[c].loglikelihood).margin(1e-5));
}

TEST_CASE("requests longer than max_length are cut from the left like lm-eval", "[eval][tasks]") {
  const ptq::TaskData task = ptq::load_task("hellaswag", shared_dir() / "data");
  ptq::EvalOptions full, cut;
  full.limit = cut.limit = 3;
  full.scoring = cut.scoring = quiet();
  cut.max_length = 24;  // shorter than every context: each request scored alone on its last 24 inputs
  const auto a = ptq::evaluate_task(micro(), micro_tok(), task, full);
  const auto b = ptq::evaluate_task(micro(), micro_tok(), task, cut);
  bool any_differs = false;
  for (std::size_t d = 0; d < a.docs.size(); ++d)
    for (std::size_t c = 0; c < a.docs[d].requests.size(); ++c) {
      CHECK(a.docs[d].requests[c].tokens == b.docs[d].requests[c].tokens);
      any_differs |= a.docs[d].requests[c].loglikelihood != b.docs[d].requests[c].loglikelihood;
    }
  CHECK(any_differs);
}

TEST_CASE("perplexity, gptq protocol: per-window NLL equals transformers", "[eval][ppl][golden]") {
  const std::string text = ptq::join_rows(
      ptq::read_jsonl_field(shared_dir() / "data/wikitext-2-raw-v1/test.jsonl", "text"), "\n\n");
  const auto ids = micro_tok().encode(text);
  for (const std::int64_t seqlen : {512, 2048}) {
    const auto sums = golden()["ppl_gptq"][std::to_string(seqlen)]["window_nll_sum"].get<std::vector<double>>();
    const std::int64_t windows = ptq::test::test_level() >= 2 ? 0 : (seqlen == 512 ? 16 : 4);
    const auto r = ptq::perplexity_gptq(micro(), ids, seqlen, windows, quiet());
    const std::size_t n = static_cast<std::size_t>(r.windows);
    REQUIRE(n <= sums.size());
    if (windows == 0) CHECK(n == sums.size());
    double ref = 0;
    for (std::size_t w = 0; w < n; ++w) ref += sums[w];
    const double ref_ppl = std::exp(ref / static_cast<double>(n * (seqlen - 1)));
    INFO("seqlen " << seqlen << ", " << n << " windows: ptq " << r.ppl << ", transformers " << ref_ppl);
    CHECK(r.tokens == static_cast<std::int64_t>(n) * (seqlen - 1));
    CHECK(r.nll_sum == Approx(ref).epsilon(1e-5));
    CHECK(r.ppl == Approx(ref_ppl).epsilon(1e-4));
  }
}

TEST_CASE("perplexity, lm-eval protocol: wikitext metrics equal lm-eval's at max_length 512",
          "[eval][ppl][golden][lm-eval-protocol]") {
  const auto& g = golden()["wikitext_lm_eval"];
  const auto pages = ptq::wikitext_pages(ptq::read_text_file(shared_dir() / "data/wikitext-2-raw-v1/wiki.test.raw"));
  const auto n = g["pages"].get<std::int64_t>();  // lm-eval --limit: the first pages
  const auto r = ptq::perplexity_lm_eval(micro(), micro_tok(), pages, 512, n, quiet());
  REQUIRE(r.documents == n);
  const auto doc_ll = g["docs_loglikelihood"].get<std::vector<double>>();
  REQUIRE(static_cast<std::int64_t>(doc_ll.size()) == n);
  double ll = 0;
  for (double v : doc_ll) ll += v;
  CHECK(-r.nll_sum == Approx(ll).epsilon(1e-4));
  CHECK(*r.word_perplexity == Approx(g["word_perplexity"].get<double>()).epsilon(1e-4));
  CHECK(*r.byte_perplexity == Approx(g["byte_perplexity"].get<double>()).epsilon(1e-4));
  CHECK(*r.bits_per_byte == Approx(g["bits_per_byte"].get<double>()).epsilon(1e-4));
}

TEST_CASE("perplexity, lm-eval protocol: all 62 pages (PTQ_TEST_LEVEL=2)",
          "[eval][ppl][golden][lm-eval-protocol][slow]") {
  if (ptq::test::test_level() < 2) {  // ~2 minutes on 2 cores; CI runs the 12-page case above
    WARN("all-pages wikitext check skipped: set PTQ_TEST_LEVEL=2");
    return;
  }
  const auto& g = golden()["wikitext_lm_eval_all"];
  const auto pages = ptq::wikitext_pages(ptq::read_text_file(shared_dir() / "data/wikitext-2-raw-v1/wiki.test.raw"));
  const auto r = ptq::perplexity_lm_eval(micro(), micro_tok(), pages, 512, 0, quiet());
  CHECK(r.documents == 62);
  CHECK(*r.word_perplexity == Approx(g["word_perplexity"].get<double>()).epsilon(1e-4));
  CHECK(*r.byte_perplexity == Approx(g["byte_perplexity"].get<double>()).epsilon(1e-4));
  CHECK(*r.bits_per_byte == Approx(g["bits_per_byte"].get<double>()).epsilon(1e-4));
}

TEST_CASE("rolling windows follow lm-eval's get_rolling_token_windows + make_disjoint_window", "[eval][ppl]") {
  const std::vector<std::int32_t> t{10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  const auto w = ptq::rolling_windows(t, 99, 4, 0);
  REQUIRE(w.size() == 3);
  CHECK(w[0].tokens == std::vector<std::int32_t>{99, 10, 11, 12});
  CHECK(w[0].targets == std::vector<std::int32_t>{10, 11, 12, 13});
  CHECK(w[1].tokens == std::vector<std::int32_t>{13, 14, 15, 16});
  CHECK(w[1].targets == std::vector<std::int32_t>{14, 15, 16, 17});
  CHECK(w[2].tokens == std::vector<std::int32_t>{15, 16, 17, 18});  // full-length window, last 2 scored
  CHECK(w[2].rows == std::vector<std::int32_t>{2, 3});
  CHECK(w[2].targets == std::vector<std::int32_t>{18, 19});
  const auto one = ptq::rolling_windows(std::vector<std::int32_t>{7}, 99, 4, 0);
  REQUIRE(one.size() == 1);
  CHECK(one[0].tokens == std::vector<std::int32_t>{99});
}

TEST_CASE("malformed dataset rows are reported with file and line and skipped, labels never shift", "[eval][errors]") {
  ptq::test::TempDir dir;
  SECTION("arc: answer key not among the labels, missing field, broken JSON") {
    std::ofstream(dir / "arc.jsonl")
        << R"({"question":{"stem":"Q1","choices":[{"text":"a","label":"A"},{"text":"b","label":"B"}]},"answerKey":"B"})" "\n"
        << R"({"question":{"stem":"Q2","choices":[{"text":"a","label":"A"},{"text":"b","label":"B"}]},"answerKey":"E"})" "\n"
        << R"({"question":{"choices":[{"text":"a","label":"A"}]},"answerKey":"A"})" "\n"
        << "{not json\n"
        << R"({"question":{"stem":"Q5","choices":[{"text":"a","label":"1"},{"text":"b","label":"2"}]},"answerKey":"1"})" "\n";
    const auto t = ptq::load_arc(dir / "arc.jsonl", "arc_easy");
    REQUIRE(t.docs.size() == 2);
    CHECK(t.docs[0].gold == 1);
    CHECK(t.docs[1].gold == 0);
    CHECK(t.docs[1].context(0) == "Question: Q5\nAnswer:");
    REQUIRE(t.skipped.size() == 3);
    CHECK_THAT(t.skipped[0], Catch::Contains("arc.jsonl:4") && Catch::Contains("not a JSON object"));
    CHECK_THAT(t.skipped[1], Catch::Contains("arc.jsonl:2") && Catch::Contains("answerKey \"E\""));
    CHECK_THAT(t.skipped[2], Catch::Contains("arc.jsonl:3") && Catch::Contains("stem"));
  }
  SECTION("winogrande: bad answer and no blank") {
    std::ofstream(dir / "w.jsonl") << R"({"sentence":"A _ b.","option1":"x","option2":"y","answer":"3"})" "\n"
                                   << R"({"sentence":"No blank.","option1":"x","option2":"y","answer":"1"})" "\n"
                                   << R"({"sentence":"He _ ran.","option1":"x","option2":"y","answer":"2"})" "\n";
    const auto t = ptq::load_winogrande(dir / "w.jsonl");
    REQUIRE(t.docs.size() == 1);
    CHECK(t.docs[0].gold == 1);
    CHECK(t.docs[0].contexts == std::vector<std::string>{"He x", "He y"});
    CHECK(t.docs[0].continuations == std::vector<std::string>{" ran."});
    CHECK(t.skipped.size() == 2);
  }
  SECTION("piqa: a bad label is skipped, a labels file of the wrong length is refused") {
    std::ofstream(dir / "p.jsonl") << R"({"goal":"g1","sol1":"a","sol2":"b"})" "\n" << R"({"goal":"g2","sol1":"a","sol2":"b"})" "\n";
    std::ofstream(dir / "l.lst") << "1\n7\n";
    const auto t = ptq::load_piqa(dir / "p.jsonl", dir / "l.lst");
    REQUIRE(t.docs.size() == 1);
    CHECK(t.docs[0].gold == 1);
    CHECK_THAT(t.skipped.at(0), Catch::Contains("l.lst:2") && Catch::Contains("\"7\""));
    std::ofstream(dir / "l.lst") << "1\n";
    PTQ_REQUIRE_ERROR(ptq::load_piqa(dir / "p.jsonl", dir / "l.lst"), "l.lst", "do not belong together");
  }
  SECTION("mmlu: a row with an answer outside A-D, and a broken quote") {
    std::filesystem::create_directories(dir / "mmlu/test");
    std::ofstream(dir / "mmlu/test/anatomy_test.csv") << "question,choice0,choice1,choice2,choice3,answer\n"
                                                      << "\"Q1, with comma\",a,b,c,d,2\nQ2,a,b,c,d,9\n";
    const auto t = ptq::load_mmlu(dir / "mmlu", 0, {"anatomy"});
    REQUIRE(t.docs.size() == 1);
    CHECK(t.docs[0].gold == 2);
    CHECK_THAT(t.docs[0].context(0), Catch::Contains("about anatomy.\n\nQ1, with comma\nA. a\n"));
    CHECK_THAT(t.skipped.at(0), Catch::Contains("anatomy_test.csv:3") && Catch::Contains("\"9\""));
    std::ofstream(dir / "mmlu/test/anatomy_test.csv") << "\"Q1,a,b,c,d,A\n";
    PTQ_REQUIRE_ERROR(ptq::load_mmlu(dir / "mmlu", 0, {"anatomy"}), "anatomy_test.csv", "unterminated");
  }
}

TEST_CASE("MMLU 5-shot prompts: description, five dev examples, then the question", "[eval][tasks]") {
  const auto t = ptq::load_mmlu(shared_dir() / "data/mmlu/hf_cais_mmlu", 5, {"college_mathematics"});
  const std::string& ctx = t.docs.at(0).context(0);
  CHECK(ctx.starts_with("The following are multiple choice questions (with answers) about college mathematics.\n\n"));
  std::size_t answers = 0;
  for (std::size_t p = 0; (p = ctx.find("\nAnswer:", p)) != std::string::npos; ++p) ++answers;
  CHECK(answers == 6);
  CHECK(ctx.find("\r\n") != std::string::npos);  // the HF export's line breaks, which lm-eval sees
  CHECK(t.docs.at(0).continuations == std::vector<std::string>{" A", " B", " C", " D"});
}

TEST_CASE("tasks on the bf16 path: log-likelihoods near transformers' float64 ones, predictions lm-eval's",
          "[eval][tasks][golden][bf16]") {
  // The bf16 path rounds every linear's input and weight to bf16 (2^-9 relative): a token's log-probability moves by
  // up to ~0.08 nats on qwen2-micro, and those moves are independent across a continuation's tokens, so the bound
  // grows with sqrt(tokens). Predictions can flip where two choices are that close (docs/reliability.md).
  ptq::test::ScopedMatmulPath bf16(ptq::ref::MatmulPath::kBf16);
  std::size_t docs = 0, same_acc = 0, norms = 0, same_norm = 0;
  double worst = 0;  // max |ll - float64 reference| / sqrt(tokens)
  for (const auto& [key, expected] : golden()["tasks"].items()) {
    const auto& gdocs = expected["docs"];
    const ptq::TaskResult r = evaluate_golden_docs(key, gdocs.size());
    for (std::size_t d = 0; d < gdocs.size(); ++d) {
      const auto& g = gdocs[d];
      const auto f64 = g["loglikelihood_f64"].get<std::vector<double>>();
      REQUIRE(r.docs[d].requests.size() == f64.size());
      for (std::size_t c = 0; c < f64.size(); ++c) {
        const auto& q = r.docs[d].requests[c];
        worst = std::max(worst, std::fabs(q.loglikelihood - f64[c]) / std::sqrt(static_cast<double>(q.tokens)));
      }
      ++docs;
      same_acc += r.docs[d].acc == (g["acc"].get<double>() == 1.0);
      if (g.contains("acc_norm")) ++norms, same_norm += r.docs[d].acc_norm == (g["acc_norm"].get<double>() == 1.0);
    }
  }
  INFO(ptq::ref::matmul_path_info() << ": " << docs << " documents, acc as lm-eval's on " << same_acc << ", acc_norm on "
                                    << same_norm << " of " << norms << "; worst |ll - float64| / sqrt(tokens) " << worst);
  CHECK(worst <= 0.15);  // measured 0.080 (emulated, AMD EPYC)
  CHECK(same_acc >= docs * 99 / 100);  // measured 899 of 900
  CHECK(same_norm >= norms * 99 / 100);  // measured 398 of 400
}
