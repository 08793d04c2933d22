/// @file Task evaluation with lm-evaluation-harness 0.4 semantics: request encoding, batched scoring,
/// per-document predictions and the metrics (acc, acc_norm, standard errors, MMLU group aggregation).
///
/// Encoding (lm-eval `_encode_pair`): trailing whitespace of the context moves to the continuation;
/// continuation ids = ids(context + continuation) minus the first len(ids(context)); an empty context is
/// replaced by the prefix token. Scoring (HFLM `_loglikelihood_tokens`): the input is
/// (context + continuation)[-(max_length + 1):][:-1]; the log-likelihood is the sum over the continuation
/// tokens; is_greedy holds when every continuation token is the arg-max. Choices of a document that
/// share their context ids are scored as branches of one segment (the context is computed once).
#pragma once

#include "ptq/eval/perplexity.hpp"
#include "ptq/eval/tasks.hpp"

#include <cmath>
#include <map>

namespace ptq {

struct RequestResult {
  std::string context, continuation;  // as constructed (before _encode_pair's whitespace move)
  double loglikelihood = 0;
  bool is_greedy = false;
  std::int64_t tokens = 0;            // continuation tokens scored
};

struct DocResult {
  std::size_t doc = 0;
  std::vector<RequestResult> requests;  // one per choice
  int pred = 0, pred_norm = 0;          // argmax of ll, and of ll / len(choice) (characters)
  bool acc = false, acc_norm = false;
};

struct MetricValue {
  double value = 0;
  double stderr_ = 0;
  std::size_t n = 0;
};

struct TaskResult {
  std::string task;
  std::string data;                           // the file(s) read
  std::size_t docs_available = 0;             // usable docs in the data
  std::vector<std::string> skipped;           // malformed rows, "file:line: problem"
  std::vector<DocResult> docs;                // scored docs (first --limit)
  std::map<std::string, MetricValue> metrics; // acc, acc_norm (tasks that report it), mmlu groups: "acc/<group>"
};

struct EvalOptions {
  std::int64_t max_length = 2048;  // lm-eval max_length: longer inputs are cut from the left
  std::size_t limit = 0;           // 0: all docs; else the first `limit` (lm-eval --limit; MMLU: per subject)
  ScoringOptions scoring;
};

namespace detail {

struct EncodedPair { std::vector<std::int32_t> context, continuation; };

inline EncodedPair encode_pair(const Tokenizer& tok, std::string_view context, std::string_view continuation,
                               std::int32_t prefix) {
  if (context.empty()) return {{prefix}, tok.encode(continuation)};
  const std::string_view ctx = py::rstrip(context);
  const std::string cont = std::string(context.substr(ctx.size())) + std::string(continuation);
  std::vector<std::int32_t> whole = tok.encode(std::string(ctx) + cont);
  std::vector<std::int32_t> ctx_ids = tok.encode(ctx);
  if (ctx_ids.empty()) {  // an all-whitespace context: condition on the prefix token like an empty one
    ctx_ids = {prefix};
    whole.insert(whole.begin(), prefix);
  }
  check(ctx_ids.size() <= whole.size(), "", "encode_pair", "context encodes longer than context + continuation");
  std::vector<std::int32_t> cont_ids(whole.begin() + static_cast<std::ptrdiff_t>(ctx_ids.size()), whole.end());
  return {std::move(ctx_ids), std::move(cont_ids)};
}

inline double mean_stderr(const std::vector<double>& x) {
  const auto n = static_cast<double>(x.size());
  if (x.size() < 2) return 0;
  double mu = 0;
  for (double v : x) mu += v;
  mu /= n;
  double ss = 0;
  for (double v : x) ss += (v - mu) * (v - mu);
  return std::sqrt(ss / (n - 1)) / std::sqrt(n);
}

/// lm-eval's aggregation of a group weighted by size: mean of the subtask means weighted by their sizes,
/// and pooled_sample_stderr of their standard errors.
inline MetricValue pooled(const std::vector<MetricValue>& parts) {
  double sum = 0, var = 0;
  std::size_t n = 0;
  for (const auto& p : parts) {
    sum += p.value * static_cast<double>(p.n);
    var += (static_cast<double>(p.n) - 1) * p.stderr_ * p.stderr_ * static_cast<double>(p.n);
    n += p.n;
  }
  MetricValue m;
  m.n = n;
  m.value = n ? sum / static_cast<double>(n) : 0;
  const double dof = static_cast<double>(n) - static_cast<double>(parts.size());
  m.stderr_ = dof > 0 ? std::sqrt(var / dof / static_cast<double>(n)) : 0;
  return m;
}

inline MetricValue mean_metric(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return {x.empty() ? 0 : s / static_cast<double>(x.size()), mean_stderr(x), x.size()};
}

/// Index of the first maximum (numpy.argmax).
inline int argmax(const std::vector<double>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

/// Characters (code points) of a UTF-8 string: Python's len(str).
inline std::size_t char_count(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

}  // namespace detail

/// Scores the first `opt.limit` docs of `task` and computes its metrics.
template <class Model>
  requires ScoringModel<std::remove_reference_t<Model>>
TaskResult evaluate_task(Model&& model, const Tokenizer& tok, const TaskData& task, const EvalOptions& opt) {
  TaskResult result{task.name, task.data, task.docs.size(), task.skipped, {}, {}};
  // The docs to score: the first `limit` of the task, or, for MMLU, of each subject (lm-eval applies --limit
  // to every subtask).
  std::vector<const Doc*> chosen;
  std::map<std::string, std::size_t> per_subject;
  for (const Doc& doc : task.docs)
    if (!opt.limit || per_subject[doc.subject]++ < opt.limit) chosen.push_back(&doc);
  const std::size_t ndocs = chosen.size();
  const std::int32_t prefix = prefix_token(tok, model.config());

  // One output per (doc, choice); one segment per group of choices sharing context ids.
  std::vector<std::size_t> first_output(ndocs + 1, 0);
  for (std::size_t d = 0; d < ndocs; ++d) first_output[d + 1] = first_output[d] + chosen[d]->num_choices();
  std::vector<ScoreSegment> segments;
  for (std::size_t d = 0; d < ndocs; ++d) {
    const Doc& doc = *chosen[d];
    std::vector<detail::EncodedPair> pairs;
    for (std::size_t c = 0; c < doc.num_choices(); ++c) pairs.push_back(detail::encode_pair(tok, doc.context(c), doc.continuation(c), prefix));
    std::vector<bool> done(pairs.size(), false);
    for (std::size_t c = 0; c < pairs.size(); ++c) {
      if (done[c]) continue;
      check(!pairs[c].continuation.empty(), doc.source, fmt::format("choice {}", c), "the continuation encodes to no tokens");
      const bool fits = static_cast<std::int64_t>(pairs[c].context.size() + pairs[c].continuation.size()) <= opt.max_length + 1;
      if (!fits) {  // lm-eval: (context + continuation)[-(max_length + 1):][:-1], scored alone
        std::vector<std::int32_t> all = pairs[c].context;
        all.insert(all.end(), pairs[c].continuation.begin(), pairs[c].continuation.end());
        const auto keep = static_cast<std::size_t>(opt.max_length + 1);
        std::vector<std::int32_t> window(all.end() - static_cast<std::ptrdiff_t>(keep), all.end() - 1);
        const auto& cont = pairs[c].continuation;
        segments.push_back(ScoreSegment::sequence(std::move(window), keep - 1 - cont.size(), cont, first_output[d] + c));
        done[c] = true;
        continue;
      }
      // A segment: this context, then every not-yet-done choice with the same context ids that fits.
      ScoreSegment s;
      const auto& ctx = pairs[c].context;
      const auto p = static_cast<std::int32_t>(ctx.size());
      s.tokens = ctx;
      for (std::int32_t i = 0; i < p; ++i) { s.positions.push_back(i); s.branch.push_back(0); }
      std::int32_t branch = 0;
      for (std::size_t o = c; o < pairs.size(); ++o) {
        if (done[o] || pairs[o].context != ctx) continue;
        const auto& cont = pairs[o].continuation;
        if (static_cast<std::int64_t>(ctx.size() + cont.size()) > opt.max_length + 1) continue;
        ++branch;
        s.rows.push_back(p - 1);  // the last context token predicts the first continuation token
        s.targets.push_back(cont[0]);
        s.outputs.push_back(first_output[d] + o);
        for (std::size_t k = 0; k + 1 < cont.size(); ++k) {
          s.rows.push_back(static_cast<std::int32_t>(s.tokens.size()));
          s.tokens.push_back(cont[k]);
          s.positions.push_back(p + static_cast<std::int32_t>(k));
          s.branch.push_back(branch);
          s.targets.push_back(cont[k + 1]);
          s.outputs.push_back(first_output[d] + o);
        }
        done[o] = true;
      }
      segments.push_back(std::move(s));
    }
  }
  const ScoreTotals totals = score_segments(model, segments, first_output[ndocs], opt.scoring, task.name);

  const bool has_norm = task.name != "winogrande" && task.name != "mmlu";
  std::vector<double> acc, acc_norm;
  std::map<std::string, std::vector<double>> by_subject;
  for (std::size_t d = 0; d < ndocs; ++d) {
    const Doc& doc = *chosen[d];
    DocResult r;
    r.doc = doc.index;
    std::vector<double> ll, ll_norm;
    for (std::size_t c = 0; c < doc.num_choices(); ++c) {
      const std::size_t o = first_output[d] + c;
      r.requests.push_back({doc.context(c), doc.continuation(c), totals.loglikelihood[o], totals.is_greedy[o] != 0,
                            totals.tokens[o]});
      ll.push_back(totals.loglikelihood[o]);
      ll_norm.push_back(totals.loglikelihood[o] / static_cast<double>(detail::char_count(doc.choices[c])));
    }
    r.pred = detail::argmax(ll);
    r.pred_norm = detail::argmax(ll_norm);
    r.acc = r.pred == doc.gold;
    r.acc_norm = r.pred_norm == doc.gold;
    acc.push_back(r.acc);
    acc_norm.push_back(r.acc_norm);
    if (!doc.subject.empty()) by_subject[doc.subject].push_back(r.acc);
    result.docs.push_back(std::move(r));
  }
  if (task.name == "mmlu") {
    std::map<std::string, std::vector<MetricValue>> by_category;
    for (const auto& [subject, values] : by_subject) {
      const MetricValue m = detail::mean_metric(values);
      result.metrics["acc/" + subject] = m;
      by_category[std::string(mmlu_category(subject))].push_back(m);
    }
    std::vector<MetricValue> categories;
    for (const auto& [category, parts] : by_category) {
      result.metrics["acc/" + category] = detail::pooled(parts);
      categories.push_back(result.metrics["acc/" + category]);
    }
    result.metrics["acc"] = detail::pooled(categories);
  } else {
    result.metrics["acc"] = detail::mean_metric(acc);
    if (has_norm) result.metrics["acc_norm"] = detail::mean_metric(acc_norm);
  }
  return result;
}

}  // namespace ptq
