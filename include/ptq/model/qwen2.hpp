/// @file The Qwen2 forward pass on the CPU (float32 compute over weights in their stored dtype).
///
///   auto model = ptq::Qwen2Model::load("../shared/models/qwen2-micro");
///   auto scores = model.score(ids, targets);         // log p(targets[t] | ids[0..t])
///
/// Embedding -> L x [RMSNorm -> q/k/v (+bias) -> RoPE -> causal GQA -> o_proj -> residual ->
/// RMSNorm -> SwiGLU MLP -> residual] -> RMSNorm -> lm_head, as Hugging Face Qwen2ForCausalLM.
/// Packed calls (several sequences, or a shared prefix with several continuations) go through the
/// hidden_states overload that takes positions and an AttentionLayout, or score(ScoreBatch).
/// Limitations: no KV cache (evaluation is prefill-only; greedy generation recomputes the prefix).
#pragma once

#include "ptq/checkpoint/quantization_config.hpp"
#include "ptq/core/memory.hpp"
#include "ptq/io/model_dir.hpp"
#include "ptq/io/safetensors.hpp"
#include "ptq/kernels/ref/attention.hpp"
#include "ptq/kernels/ref/elementwise.hpp"
#include "ptq/kernels/ref/linear.hpp"
#include "ptq/kernels/ref/logprob.hpp"
#include "ptq/model/layer_slots.hpp"
#include "ptq/model/qwen2_config.hpp"
#include "ptq/model/weights.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <span>
#include <vector>

namespace ptq {

struct LoadOptions {
  bool check_finite = true;  // scan every weight for NaN/Inf at load (one pass over the weights)
  static constexpr std::array<std::string_view, 1> field_names{"check_finite"};
};

/// Sees every linear-layer input of a layer forward (calibration): (which, x (m, in_features), m).
using LayerObserver = std::function<void(LinearInput, const float*, std::int64_t)>;

class Qwen2Model {
 public:
  /// Wraps weights whose bytes are kept alive by `storage` (a TensorStore, owned buffers, ...).
  Qwen2Model(Qwen2Config config, Qwen2Weights weights, std::shared_ptr<const void> storage)
      : config_(std::move(config)), weights_(std::move(weights)), storage_(std::move(storage)) {}

  /// Loads a Hugging Face model folder or cache entry (config.json + safetensors, single or sharded).
  static Qwen2Model load(const fs::path& path, LoadOptions opt = {}) {
    const fs::path dir = resolve_model_dir(path);
    Qwen2Config config = load_qwen2_config(dir);
    auto store = std::make_shared<const TensorStore>(TensorStore::open(dir));
    check_memory(store->total_bytes(), dir.string(), "model");  // the weights become resident as they are read
    Qwen2Weights weights = bind_qwen2_weights(*store, config, opt.check_finite, load_quantization(dir));
    Qwen2Model model(std::move(config), std::move(weights), store);
    model.store_ = std::move(store);
    model.dir_ = dir;
    return model;
  }

  [[nodiscard]] const Qwen2Config& config() const { return config_; }
  [[nodiscard]] const Qwen2Weights& weights() const { return weights_; }
  [[nodiscard]] Qwen2Weights& weights() { return weights_; }
  /// The checkpoint the model was loaded from (nullptr for models built in memory), and its folder.
  [[nodiscard]] const TensorStore* store() const { return store_.get(); }
  [[nodiscard]] const fs::path& dir() const { return dir_; }

  /// Final-norm hidden states (T, H) for one sequence of token ids (T).
  [[nodiscard]] Buffer<float> hidden_states(std::span<const std::int32_t> ids) const {
    std::vector<std::int32_t> positions(ids.size());
    for (std::size_t t = 0; t < ids.size(); ++t) positions[t] = static_cast<std::int32_t>(t);
    return hidden_states(ids, positions, AttentionLayout::single(static_cast<std::int64_t>(ids.size())));
  }

  /// Final-norm hidden states (T, H) for packed token ids (T) with their RoPE positions (T) and the
  /// attention layout (segments and branches): several sequences, or one prefix with several
  /// continuations, in one pass.
  [[nodiscard]] Buffer<float> hidden_states(std::span<const std::int32_t> ids, std::span<const std::int32_t> positions,
                                            const AttentionLayout& layout) const {
    const auto t_len = static_cast<std::int64_t>(ids.size());
    const std::int64_t h = config_.hidden_size;
    check(positions.size() == ids.size() && layout.branch.size() == ids.size() && !layout.segment_begin.empty() &&
              layout.segment_begin.front() == 0 && layout.segment_begin.back() == t_len,
          "", "hidden_states", "positions or layout do not cover the {} tokens", ids.size());
    Buffer<float> x = embed(ids);
    const ref::RopeTable rope(positions, config_.head_dim, config_.rope_theta);
    for (const Qwen2Layer& layer : weights_.layers) block(layer, x.data(), t_len, rope, layout, nullptr);
    Buffer<float> out(static_cast<std::size_t>(t_len * h));
    ref::rms_norm(x.data(), t_len, h, weights_.norm, static_cast<float>(config_.rms_norm_eps), out.data());
    return out;
  }

  /// Full logits (T, V). Holds T x V floats: use `score` for evaluation.
  [[nodiscard]] Buffer<float> logits(std::span<const std::int32_t> ids) const {
    const auto t_len = static_cast<std::int64_t>(ids.size());
    Buffer<float> hs = hidden_states(ids);
    Buffer<float> out(static_cast<std::size_t>(t_len * config_.vocab_size));
    ref::linear(hs.data(), t_len, weights_.lm_head, {}, out.data());
    return out;
  }

  /// log p(targets[t] | ids[0..t]) and whether targets[t] is the greedy token, for t < T, without
  /// materializing the logits.
  [[nodiscard]] std::vector<TokenScore> score(std::span<const std::int32_t> ids,
                                                   std::span<const std::int32_t> targets) const {
    check(targets.size() == ids.size(), "", "score", "{} targets for {} positions", targets.size(), ids.size());
    return score(ScoreBatch::sequence({ids.begin(), ids.end()}, {targets.begin(), targets.end()}));
  }

  /// The scored rows of a packed forward pass (the evaluation harness's call, the same on every backend): only
  /// those rows go through lm_head.
  [[nodiscard]] std::vector<TokenScore> score(const ScoreBatch& b) const {
    const auto t_len = static_cast<std::int64_t>(b.ids.size());
    const std::int64_t h = config_.hidden_size;
    check(b.rows.size() == b.targets.size(), "", "score", "{} rows for {} targets", b.rows.size(), b.targets.size());
    const Buffer<float> hs = hidden_states(b.ids, b.positions, b.layout);
    Buffer<float> gathered(b.rows.size() * static_cast<std::size_t>(h));
    for (std::size_t r = 0; r < b.rows.size(); ++r) {
      check(b.rows[r] >= 0 && b.rows[r] < t_len, "", "score", "row {} outside the {} tokens", b.rows[r], t_len);
      std::copy_n(hs.data() + b.rows[r] * h, h, gathered.data() + r * h);
    }
    std::vector<TokenScore> out(b.rows.size());
    ref::target_logprobs(gathered.data(), static_cast<std::int64_t>(b.rows.size()), weights_.lm_head, b.targets, out);
    return out;
  }

  /// Token embeddings (T, H) as float32: the input of layer 0.
  [[nodiscard]] Buffer<float> embed(std::span<const std::int32_t> ids) const {
    const std::int64_t h = config_.hidden_size;
    check(!ids.empty(), "", "input_ids", "empty sequence");
    Buffer<float> x(ids.size() * static_cast<std::size_t>(h));
    for (std::size_t t = 0; t < ids.size(); ++t) {
      check(ids[t] >= 0 && ids[t] < config_.vocab_size, "", "input_ids", "token {} at position {} is outside the "
            "vocabulary of {}", ids[t], t, config_.vocab_size);
      to_float(weights_.embed_tokens, ids[t] * h, {x.data() + t * h, static_cast<std::size_t>(h)});
    }
    return x;
  }

  /// Runs decoder layer `layer` in place on one sequence's residual stream x (T, H), positions 0..T-1,
  /// showing each linear input to `observer` (may be null).
  void forward_layer(int layer, float* x, std::int64_t t_len, const LayerObserver* observer) const {
    forward_layer(weights_.layers.at(static_cast<std::size_t>(layer)), x, t_len, observer);
  }
  /// The same with another layer's weights (a working copy being quantized).
  void forward_layer(const Qwen2Layer& l, float* x, std::int64_t t_len, const LayerObserver* observer) const {
    block(l, x, t_len, sequence_rope(t_len), AttentionLayout::single(t_len), observer);
  }

  /// Self-attention of one sequence: normed input (T, H) -> o_proj output (T, H), no residual.
  void attention(const Qwen2Layer& l, const float* normed, std::int64_t t_len, float* out) const {
    attention(l, normed, t_len, sequence_rope(t_len), AttentionLayout::single(t_len), out, nullptr);
  }

  /// SwiGLU MLP: normed input (T, H) -> down_proj output (T, H), no residual.
  void mlp(const Qwen2Layer& l, const float* normed, std::int64_t t_len, float* out,
           const LayerObserver* observer = nullptr) const {
    const std::int64_t inter = config_.intermediate_size;
    Buffer<float> gate(static_cast<std::size_t>(t_len * inter)), up(static_cast<std::size_t>(t_len * inter));
    apply(l.gate_proj, normed, t_len, gate.data());
    apply(l.up_proj, normed, t_len, up.data());
    ref::swiglu(gate.data(), up.data(), t_len * inter);
    if (observer) (*observer)(LinearInput::kMlpDown, gate.data(), t_len);
    apply(l.down_proj, gate.data(), t_len, out);
  }

  /// Greedy decoding: appends `steps` arg-max tokens to `prompt` (recomputes the prefix each step).
  [[nodiscard]] std::vector<std::int32_t> generate_greedy(std::vector<std::int32_t> prompt, int steps) const {
    const std::int64_t h = config_.hidden_size, v = config_.vocab_size;
    std::vector<float> logit(static_cast<std::size_t>(v));
    for (int s = 0; s < steps; ++s) {
      Buffer<float> hs = hidden_states(prompt);
      const float* last = hs.data() + (static_cast<std::int64_t>(prompt.size()) - 1) * h;
      ref::linear(last, 1, weights_.lm_head, {}, logit.data());
      prompt.push_back(static_cast<std::int32_t>(std::max_element(logit.begin(), logit.end()) - logit.begin()));
    }
    return prompt;
  }

 private:
  [[nodiscard]] ref::RopeTable sequence_rope(std::int64_t t_len) const {
    std::vector<std::int32_t> positions(static_cast<std::size_t>(t_len));
    std::iota(positions.begin(), positions.end(), 0);
    return {positions, config_.head_dim, config_.rope_theta};
  }

  void attention(const Qwen2Layer& l, const float* normed, std::int64_t t_len, const ref::RopeTable& rope,
                 const AttentionLayout& layout, float* out, const LayerObserver* observer) const {
    const Qwen2Config& c = config_;
    const std::int64_t qd = c.q_dim(), kvd = c.kv_dim();
    Buffer<float> q(static_cast<std::size_t>(t_len * qd)), k(static_cast<std::size_t>(t_len * kvd)),
        v(static_cast<std::size_t>(t_len * kvd)), attn(static_cast<std::size_t>(t_len * qd));
    apply(l.q_proj, normed, t_len, q.data());
    apply(l.k_proj, normed, t_len, k.data());
    apply(l.v_proj, normed, t_len, v.data());
    ref::apply_rope(q.data(), t_len, c.num_attention_heads, rope);
    ref::apply_rope(k.data(), t_len, c.num_key_value_heads, rope);
    ref::causal_attention(q.data(), k.data(), v.data(), attn.data(), c.num_attention_heads, c.num_key_value_heads,
                          c.head_dim, layout);
    if (observer) (*observer)(LinearInput::kAttentionOutput, attn.data(), t_len);
    apply(l.o_proj, attn.data(), t_len, out);
  }

  /// One decoder block, in place on the residual stream x (T, H).
  void block(const Qwen2Layer& l, float* x, std::int64_t t_len, const ref::RopeTable& rope,
             const AttentionLayout& layout, const LayerObserver* observer) const {
    const std::int64_t h = config_.hidden_size;
    const auto eps = static_cast<float>(config_.rms_norm_eps);
    Buffer<float> normed(static_cast<std::size_t>(t_len * h)), delta(static_cast<std::size_t>(t_len * h));
    ref::rms_norm(x, t_len, h, l.input_layernorm, eps, normed.data());
    if (observer) (*observer)(LinearInput::kAttention, normed.data(), t_len);
    attention(l, normed.data(), t_len, rope, layout, delta.data(), observer);
    ref::add_inplace(x, delta.data(), t_len * h);

    ref::rms_norm(x, t_len, h, l.post_attention_layernorm, eps, normed.data());
    if (observer) (*observer)(LinearInput::kMlp, normed.data(), t_len);
    mlp(l, normed.data(), t_len, delta.data(), observer);
    ref::add_inplace(x, delta.data(), t_len * h);
  }

  Qwen2Config config_;
  Qwen2Weights weights_;
  std::shared_ptr<const void> storage_;
  std::shared_ptr<const TensorStore> store_;
  fs::path dir_;
};

/// Stored bits of the decoder layers' linear weights over their weight count: packed codes, scales, zero points and
/// g_idx for a quantized model (e.g. 4.25 for W4 g128 with fp16 scales and packed zeros), the stored dtype's width
/// (16) for a dense one. The embeddings and lm_head are not counted (they stay as stored); model_weight_bytes is
/// the whole model's.
inline double linear_bits_per_weight(const Qwen2Model& m) {
  double bits = 0, weights = 0;
  for (const auto& l : m.weights().layers)
    for_each_linear(l, [&](const char*, const Linear& lin) {
      bits += 8.0 * static_cast<double>(lin.packed ? lin.packed->nbytes() : lin.weight.nbytes());
      weights += static_cast<double>(lin.out_features()) * static_cast<double>(lin.in_features());
    });
  return weights > 0 ? bits / weights : 0;
}

}  // namespace ptq
