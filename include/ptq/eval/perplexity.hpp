/// @file WikiText-2 perplexity under the two protocols that papers and tools report.
///
/// gptq   (IST-DASLab/gptq, AutoAWQ, llm-awq): the rows joined with "\n\n", tokenized once, cut into
///        non-overlapping windows of `seqlen` tokens (the tail is dropped); each window predicts its tokens
///        1..seqlen-1. ppl = exp(nll_sum / tokens) = exp(mean over windows of the mean NLL).
/// lm-eval (`wikitext` task): each page, detokenized, is scored in rolling windows of `max_length` tokens
///        whose first input is the EOS token (Qwen has no BOS); every token is predicted once.
///        word_perplexity = exp(-LL / words), byte_perplexity = exp(-LL / bytes), bits_per_byte =
///        -LL / bytes / ln 2, with words (len(re.split(r"\s+", page))) and bytes counted on the original page.
#pragma once

#include "ptq/eval/scoring.hpp"
#include "ptq/eval/text.hpp"
#include "ptq/eval/wikitext.hpp"
#include "ptq/tokenizer/tokenizer.hpp"

#include <cmath>
#include <optional>

namespace ptq {

struct PerplexityResult {
  std::string protocol;       // "gptq" or "lm-eval"
  std::int64_t seqlen = 0;    // window length (lm-eval: max_length)
  double ppl = 0;             // gptq: token perplexity; lm-eval: token perplexity too, for reference
  double nll_sum = 0;         // summed negative log-likelihood (nats) over the scored tokens
  std::int64_t tokens = 0;    // scored (predicted) tokens
  std::int64_t windows = 0;   // forward windows
  // lm-eval protocol only:
  std::optional<double> word_perplexity, byte_perplexity, bits_per_byte;
  std::int64_t words = 0, bytes = 0, documents = 0;
};

/// GPTQ protocol on already tokenized text; `max_windows` > 0 scores only the first windows.
template <class Model>
  requires ScoringModel<std::remove_reference_t<Model>>
PerplexityResult perplexity_gptq(Model&& model, std::span<const std::int32_t> ids, std::int64_t seqlen,
                                 std::int64_t max_windows, const ScoringOptions& opt) {
  check(seqlen >= 2, "", "seqlen", "must be at least 2, got {}", seqlen);
  std::int64_t windows = static_cast<std::int64_t>(ids.size()) / seqlen;
  check(windows > 0, "", "seqlen", "the text has {} tokens, fewer than one window of {}", ids.size(), seqlen);
  if (max_windows > 0) windows = std::min(windows, max_windows);
  std::vector<ScoreSegment> segments;
  for (std::int64_t w = 0; w < windows; ++w) {
    const auto begin = ids.begin() + w * seqlen;
    segments.push_back(ScoreSegment::sequence({begin, begin + seqlen}, 0,
                                              ids.subspan(static_cast<std::size_t>(w * seqlen + 1),
                                                          static_cast<std::size_t>(seqlen - 1)),
                                              static_cast<std::size_t>(w)));
  }
  const ScoreTotals t = score_segments(model, segments, static_cast<std::size_t>(windows), opt, "ppl (gptq)");
  PerplexityResult r;
  r.protocol = "gptq";
  r.seqlen = seqlen;
  r.windows = windows;
  for (std::int64_t w = 0; w < windows; ++w) {
    r.nll_sum -= t.loglikelihood[w];
    r.tokens += t.tokens[w];
  }
  r.ppl = std::exp(r.nll_sum / static_cast<double>(r.tokens));
  return r;
}

/// lm-eval's prefix_token_id: the tokenizer's BOS, else its EOS (Qwen: <|endoftext|>), else config.json's EOS.
inline std::int32_t prefix_token(const Tokenizer& tok, const Qwen2Config& c) {
  if (tok.bos_id()) return *tok.bos_id();
  if (tok.eos_id()) return *tok.eos_id();
  check(c.eos_token_id >= 0, "", "eos_token_id", "no BOS or EOS token in tokenizer_config.json or config.json");
  return c.eos_token_id;
}

/// lm-eval's get_rolling_token_windows + make_disjoint_window (context_len 1): for `tokens` of one
/// document, the (input, first scored row, targets) of each window of at most `max_length` inputs.
inline std::vector<ScoreSegment> rolling_windows(std::span<const std::int32_t> tokens, std::int32_t prefix,
                                                 std::int64_t max_length, std::size_t output) {
  std::vector<ScoreSegment> out;
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (n == 0) return out;
  const std::int64_t first = std::min(max_length, n);
  std::vector<std::int32_t> input{prefix};
  input.insert(input.end(), tokens.begin(), tokens.begin() + (first - 1));
  out.push_back(ScoreSegment::sequence(std::move(input), 0, tokens.first(static_cast<std::size_t>(first)), output));
  for (std::int64_t predicted = first; predicted < n;) {
    const std::int64_t pred = std::min(n - predicted, max_length), end = predicted + pred;
    std::vector<std::int32_t> window(tokens.begin() + (end - max_length - 1), tokens.begin() + (end - 1));
    out.push_back(ScoreSegment::sequence(std::move(window), static_cast<std::size_t>(max_length - pred),
                                         tokens.subspan(static_cast<std::size_t>(end - pred), static_cast<std::size_t>(pred)),
                                         output));
    predicted = end;
  }
  return out;
}

/// lm-eval protocol over pages (original, not yet detokenized). `max_documents` > 0 scores only the first pages.
template <class Model>
  requires ScoringModel<std::remove_reference_t<Model>>
PerplexityResult perplexity_lm_eval(Model&& model, const Tokenizer& tok, const std::vector<std::string>& pages,
                                    std::int64_t max_length, std::int64_t max_documents, const ScoringOptions& opt) {
  check(max_length >= 1, "", "max_length", "must be positive, got {}", max_length);
  const std::int32_t prefix = prefix_token(tok, model.config());
  PerplexityResult r;
  r.protocol = "lm-eval";
  r.seqlen = max_length;
  const std::size_t docs = max_documents > 0 ? std::min(pages.size(), static_cast<std::size_t>(max_documents)) : pages.size();
  std::vector<ScoreSegment> segments;
  for (std::size_t d = 0; d < docs; ++d) {
    const auto ids = tok.encode(wikitext_detokenize(pages[d]));
    for (auto& s : rolling_windows(ids, prefix, max_length, d)) segments.push_back(std::move(s));
    r.words += static_cast<std::int64_t>(py::count_split_whitespace(pages[d]));
    r.bytes += static_cast<std::int64_t>(pages[d].size());
  }
  r.windows = static_cast<std::int64_t>(segments.size());
  r.documents = static_cast<std::int64_t>(docs);
  const ScoreTotals t = score_segments(model, segments, docs, opt, "ppl (lm-eval)");
  double ll = 0;
  for (std::size_t d = 0; d < docs; ++d) {
    ll += t.loglikelihood[d];
    r.tokens += t.tokens[d];
  }
  r.nll_sum = -ll;
  r.ppl = std::exp(r.nll_sum / static_cast<double>(r.tokens));
  r.word_perplexity = std::exp(-ll / static_cast<double>(r.words));
  r.byte_perplexity = std::exp(-ll / static_cast<double>(r.bytes));
  r.bits_per_byte = -ll / static_cast<double>(r.bytes) / std::log(2.0);
  return r;
}

}  // namespace ptq
