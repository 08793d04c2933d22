/// @file One forward pass of packed sequences to score, as both backends take it (the CPU's Qwen2Model and the
/// GPU's Qwen2Gpu): token ids with their RoPE positions, which keys each query sees, and the rows whose next-token
/// log-probability is wanted. Plain data (nvcc compiles it). eval/scoring.hpp packs ScoreSegments into these.
#pragma once

#include <cstdint>
#include <vector>

namespace ptq {

/// Which keys each query may see, for one forward pass over packed sequences.
/// Tokens are grouped in segments (independent sequences, contiguous: [segment_begin[s], segment_begin[s+1]));
/// inside a segment, query i sees key j <= i when branch[j] == 0 (the shared prefix) or branch[j] == branch[i]
/// (the same continuation). One plain sequence: one segment, all branches 0.
struct AttentionLayout {
  std::vector<std::int32_t> segment_begin;  // (S + 1) offsets, first 0, last T
  std::vector<std::int32_t> branch;         // (T) 0 = prefix, k > 0 = k-th continuation of its segment

  static AttentionLayout single(std::int64_t t_len) {
    return {{0, static_cast<std::int32_t>(t_len)}, std::vector<std::int32_t>(static_cast<std::size_t>(t_len), 0)};
  }
};

/// A packed forward pass and the rows it scores: row r's hidden state predicts targets[r].
struct ScoreBatch {
  std::vector<std::int32_t> ids;        // (T) input token ids
  std::vector<std::int32_t> positions;  // (T) RoPE positions (a continuation restarts after its prefix)
  AttentionLayout layout;               // segments and branches of the T tokens
  std::vector<std::int32_t> rows;       // (R) scored positions, 0 <= rows[r] < T
  std::vector<std::int32_t> targets;    // (R) the token each scored row must predict

  /// One plain sequence, every position scored: position t predicts targets[t] (targets as long as ids).
  static ScoreBatch sequence(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& targets) {
    const auto t_len = static_cast<std::int64_t>(ids.size());
    ScoreBatch b{ids, {}, AttentionLayout::single(t_len), {}, targets};
    for (std::int32_t t = 0; t < static_cast<std::int32_t>(t_len); ++t) {
      b.positions.push_back(t);
      b.rows.push_back(t);
    }
    return b;
  }
};

/// One scored row.
struct TokenScore {
  float logprob = 0;       // natural-log probability of the target token
  bool is_greedy = false;  // the target is the arg-max token (first maximum, as torch.argmax)
};

}  // namespace ptq
