/// @file The CPU's steps of a layer-by-layer quantization (pipeline/layerwise.hpp's LayerBackend), on a loaded
/// Qwen2Model in place: calibration streams in float32, one sample per task in the layer forwards (the same bits for
/// any thread count), GPTQ's Hessians summed over the samples in order, one linear per task in GPTQ's solves.
#pragma once

#include "ptq/core/parallel.hpp"
#include "ptq/kernels/ref/blas.hpp"
#include "ptq/model/qwen2.hpp"
#include "ptq/pipeline/layerwise.hpp"
#include "ptq/quant/awq.hpp"
#include "ptq/quant/gptq.hpp"

#include <array>
#include <string>
#include <vector>

namespace ptq {

class CpuLayers {
 public:
  CpuLayers(Qwen2Model& model, const LayerwiseRequest& r) : model_(model), r_(r) {}

  [[nodiscard]] std::size_t num_layers() const { return model_.weights().layers.size(); }
  [[nodiscard]] std::array<std::int64_t, 2> shape(std::size_t li, int slot) const {
    const Linear& l = *linears(layer(li))[static_cast<std::size_t>(slot)];
    return {l.out_features(), l.in_features()};
  }

  void embed(const std::vector<std::vector<std::int32_t>>& calibration) {
    xs_.clear();
    for (const auto& s : calibration) xs_.push_back(model_.embed(s));
  }
  void advance(std::size_t li) { advance(layer(li), xs_); }
  void keep_full_precision(std::size_t li) {
    fp_out_ = copy_of(xs_);
    advance(layer(li), fp_out_);
  }
  void take_full_precision() { xs_ = std::move(fp_out_); }

  void rtn(std::size_t li, int slot, std::array<LinearResult, 7>& results) {
    Linear& lin = *linears(layer(li))[static_cast<std::size_t>(slot)];
    const DenseWeight w = dense_weight(lin);
    PackedWeight p = quantize_rtn(w.w, w.n, w.k, r_.spec_for(li, slot), method_grid(Method::kRtn));
    std::vector<float> deq(w.w.size());
    p.dequantize_rows(0, p.n, deq.data());
    double loss = 0;
    for (std::size_t j = 0; j < deq.size(); ++j) loss += (w.w[j] - deq[j]) * static_cast<double>(w.w[j] - deq[j]);
    lin.packed = std::make_shared<const PackedWeight>(std::move(p));
    results[static_cast<std::size_t>(slot)] = {loss, 0};
  }

  void gptq(std::size_t li, const LinearGroup& group, std::array<LinearResult, 7>& results) {
    const auto lins = linears(layer(li));
    const std::string prefix = layer_prefix(li);
    const std::span<const int> members = group.members();
    const std::vector<float> hm = std::move(hessians(li, std::array{group.input}).front());
    // One linear per task, single-threaded BLAS/LAPACK inside: deterministic for any thread count.
    std::vector<GptqResult> found(members.size());
    parallel_tasks(static_cast<std::int64_t>(members.size()), [&](std::int64_t i) {
      const auto slot = static_cast<std::size_t>(members[i]);
      DenseWeight w = dense_weight(*lins[slot]);
      found[i] = gptq_quantize(std::move(w.w), w.n, w.k, hm, r_.spec_for(li, members[i]), r_.gptq,
                               prefix + kLinearNames[slot]);
    });
    for (std::size_t i = 0; i < members.size(); ++i) {
      const auto slot = static_cast<std::size_t>(members[i]);
      lins[slot]->packed = std::make_shared<const PackedWeight>(std::move(found[i].weight));
      results[slot] = {found[i].loss, found[i].damp_used};
    }
  }

  /// Mixed precision's sensitivity of layer li (pipeline/mixed.hpp): for each linear and each of `candidates`, the
  /// output error E = ½ tr(ΔW H ΔWᵀ) = ‖ΔW X‖² / tokens (ΔW = W - Q, H = 2 XᵀX / tokens from the streams through
  /// the layer as it stands) of the request's method quantizing that linear alone: GPTQ's solve, or round-to-nearest
  /// on the method's grid (AWQ's scale search is not run: it depends on the scheme of the whole group).
  /// Returns (7 slots, candidates) in slot-major order, each E and the packed bytes; the layer is not changed.
  struct Measured {
    double loss = 0;
    std::size_t bytes = 0;
  };
  [[nodiscard]] std::vector<Measured> sensitivity(std::size_t li, std::span<const QuantSpec> candidates) {
    const auto lins = linears(layer(li));
    const std::string prefix = layer_prefix(li);
    constexpr std::array inputs{LinearInput::kAttention, LinearInput::kAttentionOutput, LinearInput::kMlp,
                                LinearInput::kMlpDown};
    const std::vector<std::vector<float>> hs = hessians(li, inputs);
    std::array<DenseWeight, 7> ws;  // float32 once per linear, shared by its candidates
    parallel_tasks(7, [&](std::int64_t slot) { ws[static_cast<std::size_t>(slot)] = dense_weight(*lins[slot]); });
    const auto nc = static_cast<std::int64_t>(candidates.size());
    std::vector<Measured> out(static_cast<std::size_t>(7 * nc));
    parallel_tasks(7 * nc, [&](std::int64_t t) {
      const auto slot = static_cast<std::size_t>(t / nc);
      const QuantSpec& spec = candidates[static_cast<std::size_t>(t % nc)];
      const std::vector<float>& h = hs[static_cast<std::size_t>(linear_input(static_cast<int>(slot)))];
      const DenseWeight& w = ws[slot];
      const PackedWeight q = r_.method == Method::kGptq
                                 ? gptq_quantize(w.w, w.n, w.k, h, spec, r_.gptq, prefix + kLinearNames[slot]).weight
                                 : quantize_rtn(w.w, w.n, w.k, spec, method_grid(r_.method));
      std::vector<float> d(w.w.size()), dh(w.w.size());
      q.dequantize_rows(0, q.n, d.data());
      for (std::size_t j = 0; j < d.size(); ++j) d[j] = w.w[j] - d[j];
      ref::gemm_nn(w.n, w.k, w.k, 1.0f, d.data(), w.k, h.data(), w.k, 0.0f, dh.data(), w.k);  // ΔW H
      double e = 0;
      for (std::size_t j = 0; j < d.size(); ++j) e += static_cast<double>(d[j]) * dh[j];
      out[static_cast<std::size_t>(t)] = {e / 2, q.nbytes()};
    });
    return out;
  }

  /// The inputs of the four linear groups from the full-precision layer (per sample, float32), its outputs, and
  /// float32 working copies of the seven weights with a layer that computes with them.
  void awq_capture(std::size_t li) {
    Qwen2Layer& l = layer(li);
    const Qwen2Config& c = model_.config();
    const std::int64_t h = c.hidden_size;
    const std::string prefix = layer_prefix(li);
    const auto ns = static_cast<std::int64_t>(xs_.size());
    awq_.width = {h, c.q_dim(), h, c.intermediate_size};
    for (auto& v : awq_.in) v.assign(xs_.size(), {});
    fp_out_ = copy_of(xs_);
    parallel_tasks(ns, [&](std::int64_t s) {
      const LayerObserver keep = [&](LinearInput at, const float* x, std::int64_t m) {
        const auto i = static_cast<std::size_t>(at);
        awq_.in[i][s].assign(x, x + m * awq_.width[i]);
        check_activations(awq_.in[i][s], prefix + (i == 0 ? "self_attn" : i == 1 ? "self_attn.o_proj" : "mlp"),
                          static_cast<std::size_t>(s));
      };
      model_.forward_layer(l, fp_out_[s].data(), rows_of(fp_out_[s], h), &keep);
    });
    awq_.offset.assign(static_cast<std::size_t>(ns) + 1, 0);
    for (std::int64_t s = 0; s < ns; ++s) awq_.offset[s + 1] = awq_.offset[s] + rows_of(xs_[s], h);
    const auto lins = linears(l);
    awq_.work = l;
    const auto work_lins = linears(awq_.work);
    for (std::size_t i = 0; i < lins.size(); ++i) {
      awq_.w[i] = dense_weight(*lins[i]);
      work_lins[i]->weight = {prefix + kLinearNames[i], DType::kF32, {awq_.w[i].n, awq_.w[i].k},
                              reinterpret_cast<const std::byte*>(awq_.w[i].w.data())};
    }
  }

  /// The group's scale search on the original weights, then the fold: the preceding op's output channels / s, the
  /// group's input columns · s, the captured inputs / s.
  void awq_scale(std::size_t li, const LinearGroup& g, std::array<LinearResult, 7>& results) {
    Qwen2Layer& l = layer(li);
    const auto in = static_cast<std::size_t>(g.input);
    std::vector<DenseWeight*> members;
    for (const int m : g.members()) members.push_back(&awq_.w[static_cast<std::size_t>(m)]);
    const QuantSpec& spec = r_.spec_for(li, g.members().front());
    for (const int m : g.members())  // mixed precision allocates AWQ's schemes per group (pipeline/mixed.hpp)
      check(r_.spec_for(li, m) == spec, "", layer_prefix(li) + kLinearNames[static_cast<std::size_t>(m)], "awq",
            "the linears of a group AWQ scales together must share a scheme");
    const AwqScaleResult found =
        awq_search_scale(members, awq_x_mean(awq_.in[in], awq_.width[in]), spec, r_.awq, awq_module(g.input),
                         layer_prefix(li) + kLinearNames[static_cast<std::size_t>(g.members().front())]);
    const std::vector<float>& s = found.scales;
    if (g.producer < 0) {
      auto& norm = g.input == LinearInput::kAttention ? l.input_layernorm : l.post_attention_layernorm;
      for (std::size_t ch = 0; ch < s.size(); ++ch) norm[ch] /= s[ch];
    } else {
      DenseWeight& p = awq_.w[static_cast<std::size_t>(g.producer)];
      std::vector<float>& bias = linears(l)[static_cast<std::size_t>(g.producer)]->bias;
      for (std::int64_t r = 0; r < p.n; ++r) {
        for (std::int64_t ch = 0; ch < p.k; ++ch) p.row(r)[ch] /= s[r];
        if (!bias.empty()) bias[r] /= s[r];
      }
    }
    for (DenseWeight* w : members)
      for (std::int64_t r = 0; r < w->n; ++r)
        for (std::size_t ch = 0; ch < s.size(); ++ch) w->row(r)[ch] *= s[ch];
    for (const int m : g.members()) results[static_cast<std::size_t>(m)] = {found.loss, found.ratio};
    for (auto& x : awq_.in[in])
      for (std::size_t j = 0; j < x.size(); ++j) x[j] /= s[j % s.size()];
  }

  /// Clip (not q/k: the attention softmax amplifies their errors), then quantize with AutoAWQ's grid.
  void awq_quantize(std::size_t li, int slot) {
    const auto i = static_cast<std::size_t>(slot);
    const auto at = static_cast<std::size_t>(linear_input(slot));
    DenseWeight& w = awq_.w[i];
    if (r_.awq.clip && slot >= 2)
      awq_clip(w, awq_sample_tokens(awq_.in[at], awq_.width[at], r_.awq.clip_tokens), r_.spec_for(li, slot), r_.awq);
    linears(layer(li))[i]->packed = std::make_shared<const PackedWeight>(
        quantize_rtn(w.w, w.n, w.k, r_.spec_for(li, slot), method_grid(Method::kAwq)));
  }

  [[nodiscard]] LayerState layer_state(std::size_t li) const {
    const Qwen2Layer& l = model_.weights().layers.at(li);
    LayerState s;
    constexpr auto members = linear_members<Qwen2Layer>();
    for (std::size_t i = 0; i < members.size(); ++i) {
      const Linear& lin = l.*members[i];
      check(lin.packed != nullptr, "", layer_prefix(li) + kLinearNames[i], "not quantized");
      s.linears[i] = packed_arrays(*lin.packed);
      s.bias[i] = lin.bias;
    }
    s.input_norm = l.input_layernorm;
    s.post_norm = l.post_attention_layernorm;
    return s;
  }

  void restore(std::size_t li, const LayerState& s) { install(layer(li), s, layer_prefix(li)); }

  /// A finished layer's state into a CPU layer (shapes checked against the layer's).
  static void install(Qwen2Layer& l, const LayerState& s, const std::string& prefix) {
    const auto lins = linears(l);
    for (std::size_t i = 0; i < lins.size(); ++i) {
      const std::string name = prefix + kLinearNames[i];
      PackedWeight p = packed_weight(s.linears[i], name);
      check(p.n == lins[i]->out_features() && p.k == lins[i]->in_features() && s.bias[i].size() == lins[i]->bias.size(),
            name, "layer state", "a ({}, {}) weight with {} biases for a ({}, {}) linear with {}", p.n, p.k,
            s.bias[i].size(), lins[i]->out_features(), lins[i]->in_features(), lins[i]->bias.size());
      lins[i]->packed = std::make_shared<const PackedWeight>(std::move(p));
      lins[i]->bias = s.bias[i];
    }
    check(s.input_norm.size() == l.input_layernorm.size() && s.post_norm.size() == l.post_attention_layernorm.size(),
          prefix, "layer state", "norms of {} / {} channels for a layer of {}", s.input_norm.size(), s.post_norm.size(),
          l.input_layernorm.size());
    l.input_layernorm = s.input_norm;
    l.post_attention_layernorm = s.post_norm;
  }

  /// The seven linears of a layer in execution order (q, k, v, o, gate, up, down; names: kLinearNames).
  static std::array<Linear*, 7> linears(Qwen2Layer& l) {
    constexpr auto members = linear_members<Qwen2Layer>();
    std::array<Linear*, 7> out;
    for (std::size_t s = 0; s < members.size(); ++s) out[s] = &(l.*members[s]);
    return out;
  }
  static std::array<const Linear*, 7> linears(const Qwen2Layer& l) {
    constexpr auto members = linear_members<Qwen2Layer>();
    std::array<const Linear*, 7> out;
    for (std::size_t s = 0; s < members.size(); ++s) out[s] = &(l.*members[s]);
    return out;
  }

 private:
  /// AWQ's state within one layer (awq_capture to awq_quantize).
  struct AwqWork {
    std::array<std::vector<std::vector<float>>, 4> in;  // per LinearInput, per sample: (tokens, width)
    std::array<std::int64_t, 4> width{};                // channels of each input
    std::vector<std::int64_t> offset;                   // first token of each sample in a module's output
    std::array<DenseWeight, 7> w;                       // float32 weights, scaled as the groups fold
    Qwen2Layer work;                                    // the layer computing with `w`
  };

  [[nodiscard]] Qwen2Layer& layer(std::size_t li) { return model_.weights().layers.at(li); }
  [[nodiscard]] const Qwen2Layer& layer(std::size_t li) const { return model_.weights().layers.at(li); }
  static std::string layer_prefix(std::size_t li) { return fmt::format("model.layers.{}.", li); }

  static DenseWeight dense_weight(const Linear& l) {
    DenseWeight d{l.out_features(), l.in_features(), std::vector<float>(static_cast<std::size_t>(l.weight.numel()))};
    to_float(l.weight, 0, d.w);
    for (std::size_t i = 0; i < d.w.size(); ++i)
      check(std::isfinite(d.w[i]), "", l.weight.name, "element {} is {} (weights must be finite)", i, d.w[i]);
    return d;
  }

  static void check_activations(std::span<const float> x, const std::string& where, std::size_t sample) {
    for (std::size_t i = 0; i < x.size(); ++i)
      check(std::isfinite(x[i]), "", where, "calibration sample {}: activation {} is {} (the layer input is not finite)",
            sample, i, x[i]);
  }

  static std::int64_t rows_of(const Buffer<float>& x, std::int64_t h) { return static_cast<std::int64_t>(x.size()) / h; }

  static std::vector<Buffer<float>> copy_of(const std::vector<Buffer<float>>& xs) {
    std::vector<Buffer<float>> out;
    for (const auto& x : xs) {
      Buffer<float> y(x.size());
      std::copy(x.data(), x.data() + x.size(), y.data());
      out.push_back(std::move(y));
    }
    return out;
  }

  /// The first linear (kLinearNames index) reading `at` (kLinearGroups is in LinearInput order).
  static std::size_t first_of(LinearInput at) {
    return static_cast<std::size_t>(kLinearGroups[static_cast<std::size_t>(at)].members().front());
  }

  /// The Hessians H = 2 XᵀX / tokens of the inputs `which` of layer li (each (K, K)), from the streams through the
  /// layer as it stands: samples in order (the Hessian sums them in a fixed order), the layer's products threaded.
  template <std::size_t N>
  [[nodiscard]] std::vector<std::vector<float>> hessians(std::size_t li, const std::array<LinearInput, N>& which) {
    Qwen2Layer& l = layer(li);
    const std::int64_t h = model_.config().hidden_size;
    const std::string prefix = layer_prefix(li);
    const auto lins = linears(l);
    std::vector<Hessian> hess;
    for (const LinearInput at : which) hess.emplace_back(lins[first_of(at)]->in_features());
    std::size_t sample = 0;
    const LayerObserver observe = [&](LinearInput at, const float* x, std::int64_t m) {
      for (std::size_t i = 0; i < N; ++i) {
        if (at != which[i]) continue;
        check_activations({x, static_cast<std::size_t>(m * hess[i].k())}, prefix + kLinearNames[first_of(at)], sample);
        hess[i].add(x, m);
      }
    };
    for (; sample < xs_.size(); ++sample) {
      Buffer<float> y(xs_[sample].size());
      std::copy(xs_[sample].data(), xs_[sample].data() + y.size(), y.data());
      model_.forward_layer(l, y.data(), rows_of(y, h), &observe);
    }
    std::vector<std::vector<float>> out;
    for (const Hessian& x : hess) out.push_back(x.matrix());
    return out;
  }

  /// Runs `l` in place over every sample (one sample per task: the same bits for any thread count).
  void advance(const Qwen2Layer& l, std::vector<Buffer<float>>& xs) const {
    const std::int64_t h = model_.config().hidden_size;
    parallel_tasks(static_cast<std::int64_t>(xs.size()),
                   [&](std::int64_t s) { model_.forward_layer(l, xs[s].data(), rows_of(xs[s], h), nullptr); });
  }

  /// The module AWQ inspects for a group's input, over every sample: attention, o_proj, MLP, down_proj (output
  /// (tokens, H)), computed with the working weights.
  [[nodiscard]] std::function<void(std::vector<float>&)> awq_module(LinearInput at) const {
    return [this, at](std::vector<float>& out) {
      const std::int64_t h = model_.config().hidden_size;
      const std::vector<std::int64_t>& offset = awq_.offset;
      out.resize(static_cast<std::size_t>(offset.back() * h));
      parallel_tasks(static_cast<std::int64_t>(offset.size()) - 1, [&](std::int64_t s) {
        const float* x = awq_.in[static_cast<std::size_t>(at)][s].data();
        const std::int64_t t = offset[s + 1] - offset[s];
        float* y = out.data() + offset[s] * h;
        switch (at) {
          case LinearInput::kAttention: model_.attention(awq_.work, x, t, y); break;
          case LinearInput::kAttentionOutput: apply(awq_.work.o_proj, x, t, y); break;
          case LinearInput::kMlp: model_.mlp(awq_.work, x, t, y); break;
          case LinearInput::kMlpDown: apply(awq_.work.down_proj, x, t, y); break;
        }
      });
    };
  }

  Qwen2Model& model_;
  LayerwiseRequest r_;
  std::vector<Buffer<float>> xs_, fp_out_;  // the streams, and kept full-precision outputs
  AwqWork awq_;
};
static_assert(LayerBackend<CpuLayers>);

}  // namespace ptq
