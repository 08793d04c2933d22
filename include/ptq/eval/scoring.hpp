/// @file Batched log-likelihood scoring: the engine under perplexity and task evaluation.
///
/// Work comes as ScoreSegments: one independent token sequence each, optionally a shared prefix followed
/// by several continuations that each see the prefix but not one another (so a multiple-choice context is
/// computed once for all its choices). Segments are sorted by length and packed into forward passes of
/// about `batch_tokens` tokens; every scored position adds its log p(target) to one output. A segment's
/// result does not depend on what it is packed with (rows of a product are independent, attention is per
/// segment), so results are the same for any batch size.
#pragma once

#include "ptq/core/progress.hpp"
#include "ptq/model/backend.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

namespace ptq {

struct ScoreSegment {
  std::vector<std::int32_t> tokens;     // (n) input ids: prefix, then each continuation's inputs
  std::vector<std::int32_t> positions;  // (n) RoPE positions (a continuation restarts after the prefix)
  std::vector<std::int32_t> branch;     // (n) 0 = prefix, k = k-th continuation
  std::vector<std::int32_t> rows;       // scored positions within the segment
  std::vector<std::int32_t> targets;    // (rows) the token each scored position must predict
  std::vector<std::size_t> outputs;     // (rows) output index each scored position adds to

  /// A plain sequence: inputs `tokens`, scoring targets[i] at position first_scored + i into `output`.
  static ScoreSegment sequence(std::vector<std::int32_t> tokens, std::size_t first_scored,
                               std::span<const std::int32_t> targets, std::size_t output) {
    ScoreSegment s;
    const auto n = tokens.size();
    s.tokens = std::move(tokens);
    s.positions.resize(n);
    std::iota(s.positions.begin(), s.positions.end(), 0);
    s.branch.assign(n, 0);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      s.rows.push_back(static_cast<std::int32_t>(first_scored + i));
      s.targets.push_back(targets[i]);
      s.outputs.push_back(output);
    }
    return s;
  }
};

/// Per output: summed log-probability, whether every target was the greedy token, and the token count.
struct ScoreTotals {
  std::vector<double> loglikelihood;
  std::vector<std::uint8_t> is_greedy;
  std::vector<std::int64_t> tokens;

  explicit ScoreTotals(std::size_t n) : loglikelihood(n, 0.0), is_greedy(n, 1), tokens(n, 0) {}
};

struct ScoringOptions {
  std::int64_t batch_tokens = 2048;  // tokens per forward pass (segments are never split)
  bool progress = true;              // progress line on stderr
  static constexpr std::array<std::string_view, 2> field_names{"batch_tokens", "progress"};
};

/// Scores `segments` on any backend (model/backend.hpp), packing them into forward passes.
template <class Model>
  requires ScoringModel<std::remove_reference_t<Model>>
ScoreTotals score_segments(Model&& model, const std::vector<ScoreSegment>& segments, std::size_t num_outputs,
                           const ScoringOptions& opt, const std::string& label) {
  ScoreTotals totals(num_outputs);
  std::vector<std::size_t> order(segments.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return segments[a].tokens.size() > segments[b].tokens.size(); });
  double all_tokens = 0;
  for (const auto& s : segments) all_tokens += static_cast<double>(s.tokens.size());
  Progress progress(label, all_tokens, "tok", opt.progress);

  for (std::size_t next = 0; next < order.size();) {
    // Pack whole segments up to the token budget (at least one).
    ScoreBatch batch;
    batch.layout.segment_begin.push_back(0);
    std::vector<std::size_t> outputs;
    while (next < order.size()) {
      const ScoreSegment& s = segments[order[next]];
      if (!batch.ids.empty() && static_cast<std::int64_t>(batch.ids.size() + s.tokens.size()) > opt.batch_tokens) break;
      const auto offset = static_cast<std::int32_t>(batch.ids.size());
      batch.ids.insert(batch.ids.end(), s.tokens.begin(), s.tokens.end());
      batch.positions.insert(batch.positions.end(), s.positions.begin(), s.positions.end());
      batch.layout.branch.insert(batch.layout.branch.end(), s.branch.begin(), s.branch.end());
      batch.layout.segment_begin.push_back(static_cast<std::int32_t>(batch.ids.size()));
      for (std::size_t r = 0; r < s.rows.size(); ++r) {
        batch.rows.push_back(offset + s.rows[r]);
        batch.targets.push_back(s.targets[r]);
        outputs.push_back(s.outputs[r]);
      }
      ++next;
    }
    progress.advance(static_cast<double>(batch.ids.size()));
    if (batch.rows.empty()) continue;
    const std::vector<TokenScore> scores = model.score(batch);
    for (std::size_t r = 0; r < scores.size(); ++r) {
      totals.loglikelihood[outputs[r]] += scores[r].logprob;
      totals.is_greedy[outputs[r]] &= static_cast<std::uint8_t>(scores[r].is_greedy);
      totals.tokens[outputs[r]] += 1;
    }
  }
  return totals;
}

}  // namespace ptq
