#include "kernel_case.hpp"

#include "ptq/core/rng.hpp"
#include "ptq/kernels/ref/attention.hpp"
#include "ptq/kernels/ref/elementwise.hpp"
#include "ptq/kernels/ref/logprob.hpp"

#include <numeric>

namespace ptq::cuda_test {

KernelCase make_kernel_case(std::int64_t t_len, std::int64_t hidden, std::int64_t heads, std::int64_t kv_heads,
                            std::int64_t head_dim, std::int64_t vocab, bool bf16, std::uint64_t seed) {
  Rng rng(seed);
  auto rounded = [&](std::size_t n, float scale) {
    std::vector<float> v(n);
    for (auto& x : v) x = bf16 ? to_float(to_bf16(scale * rng.normal())) : to_float(to_fp16(scale * rng.normal()));
    return v;
  };
  KernelCase c;
  c.t_len = t_len;
  c.hidden = hidden;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.head_dim = head_dim;
  c.vocab = vocab;
  const auto th = static_cast<std::size_t>(t_len * hidden), tq = static_cast<std::size_t>(t_len * heads * head_dim),
             tkv = static_cast<std::size_t>(t_len * kv_heads * head_dim), ti = 4 * th;
  c.x.resize(th);
  for (auto& v : c.x) v = 3.0f * rng.normal();  // the residual stream is float32
  c.norm_weight.resize(static_cast<std::size_t>(hidden));
  for (auto& v : c.norm_weight) v = 1.0f + 0.1f * rng.normal();
  c.normed.resize(th);
  ref::rms_norm(c.x.data(), t_len, hidden, c.norm_weight, c.eps, c.normed.data());

  std::vector<std::int32_t> positions(static_cast<std::size_t>(t_len));
  std::iota(positions.begin(), positions.end(), 0);
  const ref::RopeTable rope(positions, head_dim, c.theta);
  c.rope_in = rounded(tq, 1.0f);
  c.rope_out = c.rope_in;
  ref::apply_rope(c.rope_out.data(), t_len, heads, rope);

  c.q = rounded(tq, 1.0f);
  c.k = rounded(tkv, 1.0f);
  c.v = rounded(tkv, 1.0f);
  c.attn.resize(tq);
  ref::causal_attention(c.q.data(), c.k.data(), c.v.data(), c.attn.data(), heads, kv_heads, head_dim,
                        AttentionLayout::single(t_len));

  // Segment 0: tokens [0, T/2); segment 1: a prefix of a third of the rest, then branches 1 and 2 (positions
  // restart after the prefix in each branch).
  const auto half_t = static_cast<std::int32_t>(t_len / 2), prefix = static_cast<std::int32_t>((t_len - t_len / 2) / 3);
  c.segment_begin = {0, half_t, static_cast<std::int32_t>(t_len)};
  const std::int32_t branch_len = (static_cast<std::int32_t>(t_len) - half_t - prefix) / 2;
  for (std::int32_t t = 0; t < static_cast<std::int32_t>(t_len); ++t) {
    const std::int32_t i = t - half_t;
    const std::int32_t b = t < half_t || i < prefix ? 0 : i < prefix + branch_len ? 1 : 2;
    c.branch.push_back(b);
    c.positions.push_back(t < half_t ? t : b == 0 ? i : b == 1 ? i : i - branch_len);
  }
  c.attn_packed.resize(tq);
  ref::causal_attention(c.q.data(), c.k.data(), c.v.data(), c.attn_packed.data(), heads, kv_heads, head_dim,
                        AttentionLayout{c.segment_begin, c.branch});
  c.rope_packed = c.rope_in;
  ref::apply_rope(c.rope_packed.data(), t_len, heads, ref::RopeTable(c.positions, head_dim, c.theta));

  c.gate = rounded(ti, 2.0f);
  c.up = rounded(ti, 1.0f);
  c.swiglu = c.gate;
  ref::swiglu(c.swiglu.data(), c.up.data(), static_cast<std::int64_t>(ti));

  std::vector<float> hs(th), w(static_cast<std::size_t>(vocab * hidden));
  for (auto& v : hs) v = rng.normal();
  for (auto& v : w) v = 0.3f * rng.normal();
  c.logits.resize(static_cast<std::size_t>(t_len * vocab));
  for (std::int64_t t = 0; t < t_len; ++t)
    for (std::int64_t j = 0; j < vocab; ++j) {
      double s = 0;
      for (std::int64_t i = 0; i < hidden; ++i) s += static_cast<double>(hs[t * hidden + i]) * w[j * hidden + i];
      c.logits[t * vocab + j] = static_cast<float>(s);
    }
  for (std::int64_t t = 0; t < t_len; ++t) c.targets.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab))));
  c.targets[0] = static_cast<std::int32_t>(std::max_element(c.logits.begin(), c.logits.begin() + vocab) - c.logits.begin());
  const TensorRef wt{"w", DType::kF32, {vocab, hidden}, reinterpret_cast<const std::byte*>(w.data())};
  std::vector<TokenScore> scores(static_cast<std::size_t>(t_len));
  ref::target_logprobs(hs.data(), t_len, wt, c.targets, scores);
  for (const auto& s : scores) {
    c.logprob.push_back(s.logprob);
    c.greedy.push_back(s.is_greedy ? 1 : 0);
  }
  return c;
}

}  // namespace ptq::cuda_test
