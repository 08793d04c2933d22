/// @file Quantizing a whole Qwen2 model, layer by layer: RTN, or GPTQ over calibration data.
///
/// GPTQ runs true-sequential inside each decoder layer ([q, k, v] -> [o] -> [gate, up] -> [down]): each
/// group's Hessian is gathered by running the layer over every calibration sample with the earlier groups
/// already quantized, as IST-DASLab/gptq's `--true-sequential` does. The next layer is fed the outputs of
/// the quantized layer (GPTQ's convention; `feed_quantized = false` feeds the full-precision outputs,
/// AutoAWQ's). The embeddings, norms, biases and lm_head stay as stored.
#pragma once

#include "ptq/core/parallel.hpp"
#include "ptq/core/progress.hpp"
#include "ptq/core/rng.hpp"
#include "ptq/model/qwen2.hpp"
#include "ptq/quant/gptq.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace ptq {

enum class Method : std::uint8_t { kRtn, kGptq };

inline std::string_view method_name(Method m) { return m == Method::kRtn ? "rtn" : "gptq"; }

struct CalibrationParams {
  int nsamples = 128;       // windows
  int seqlen = 2048;        // tokens per window
  std::uint64_t seed = 0;   // window start positions
  static constexpr std::array<std::string_view, 3> field_names{"nsamples", "seqlen", "seed"};
};

struct QuantizeOptions {
  Method method = Method::kRtn;
  QuantSpec spec;
  GptqParams gptq;
  bool feed_quantized = true;  // next layer sees the quantized layer's outputs (GPTQ) or the original ones
  bool progress = true;
};

struct LayerReport {
  std::string name;    // e.g. model.layers.3.mlp.down_proj
  double loss = 0;     // GPTQ's loss; RTN: Σ (w - q)^2
  float damp = 0;      // GPTQ damping used
};

struct QuantizeReport {
  double seconds = 0;
  std::size_t bytes_before = 0;  // stored bytes of the quantized layers' weights before
  std::size_t bytes_after = 0;   // packed bytes after
  std::vector<LayerReport> layers;
};

/// `nsamples` random windows of `seqlen` tokens from `ids` (start positions uniform, seeded); the text must
/// hold at least one window.
inline std::vector<std::vector<std::int32_t>> calibration_windows(std::span<const std::int32_t> ids,
                                                                  const CalibrationParams& p) {
  check(p.seqlen > 0 && p.nsamples > 0, "", "calibration", "nsamples and seqlen must be positive");
  check(static_cast<std::int64_t>(ids.size()) > p.seqlen, "", "calibration",
        "the calibration text has {} tokens, fewer than one window of {} + 1", ids.size(), p.seqlen);
  Rng rng(p.seed);
  std::vector<std::vector<std::int32_t>> out;
  const std::uint64_t starts = ids.size() - static_cast<std::size_t>(p.seqlen);
  for (int s = 0; s < p.nsamples; ++s) {
    const auto b = static_cast<std::ptrdiff_t>(rng.below(starts));
    out.emplace_back(ids.begin() + b, ids.begin() + b + p.seqlen);
  }
  return out;
}

namespace detail {

inline std::vector<float> dense_f32(const Linear& l) {
  std::vector<float> w(static_cast<std::size_t>(l.weight.numel()));
  to_float(l.weight, 0, w);
  for (std::size_t i = 0; i < w.size(); ++i)
    check(std::isfinite(w[i]), "", l.weight.name, "element {} is {} (weights must be finite)", i, w[i]);
  return w;
}

}  // namespace detail

/// Quantizes every linear layer of `model` in place (their `packed` is set). `calibration` is needed for GPTQ.
inline QuantizeReport quantize_model(Qwen2Model& model, const QuantizeOptions& opt,
                                     const std::vector<std::vector<std::int32_t>>& calibration = {}) {
  validate(opt.spec, "quantize");
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeReport report;
  auto& layers = model.weights().layers;
  const std::int64_t h = model.config().hidden_size;
  Progress progress(fmt::format("quantize ({})", method_name(opt.method)), static_cast<double>(layers.size()), "layers",
                    opt.progress);

  std::vector<Buffer<float>> xs;  // residual stream per calibration sample, at the current layer's input
  if (opt.method == Method::kGptq) {
    check(!calibration.empty(), "", "calibration", "GPTQ needs calibration samples");
    for (const auto& s : calibration) xs.push_back(model.embed(s));
  }
  for (std::size_t li = 0; li < layers.size(); ++li) {
    Qwen2Layer& layer = layers[li];
    const std::string prefix = fmt::format("model.layers.{}.", li);
    auto finish_linear = [&](const std::string& name, Linear& lin, PackedWeight packed, double loss, float damp) {
      report.bytes_before += lin.weight.nbytes();
      report.bytes_after += packed.nbytes();
      lin.packed = std::make_shared<const PackedWeight>(std::move(packed));
      report.layers.push_back({prefix + name, loss, damp});
    };
    if (opt.method == Method::kRtn) {
      for_each_linear(layer, [&](const char* name, Linear& lin) {
        const auto w = detail::dense_f32(lin);
        PackedWeight p = quantize_rtn(w, lin.out_features(), lin.in_features(), opt.spec, Grid::kGptq);
        std::vector<float> deq(w.size());
        p.dequantize_rows(0, p.n, deq.data());
        double loss = 0;
        for (std::size_t i = 0; i < w.size(); ++i) loss += (w[i] - deq[i]) * static_cast<double>(w[i] - deq[i]);
        finish_linear(name, lin, std::move(p), loss, 0);
      });
      progress.advance(1);
      continue;
    }
    // GPTQ, true-sequential groups.
    std::vector<Buffer<float>> fp_out;
    if (!opt.feed_quantized)
      for (const auto& x : xs) {
        Buffer<float> y(x.size());
        std::copy(x.begin(), x.end(), y.begin());
        model.forward_layer(static_cast<int>(li), y.data(), static_cast<std::int64_t>(y.size()) / h, nullptr);
        fp_out.push_back(std::move(y));
      }
    const std::vector<std::pair<LinearInput, std::vector<std::pair<const char*, Linear*>>>> groups{
        {LinearInput::kAttention, {{"self_attn.q_proj", &layer.q_proj}, {"self_attn.k_proj", &layer.k_proj},
                                   {"self_attn.v_proj", &layer.v_proj}}},
        {LinearInput::kAttentionOutput, {{"self_attn.o_proj", &layer.o_proj}}},
        {LinearInput::kMlp, {{"mlp.gate_proj", &layer.gate_proj}, {"mlp.up_proj", &layer.up_proj}}},
        {LinearInput::kMlpDown, {{"mlp.down_proj", &layer.down_proj}}}};
    for (const auto& [input, members] : groups) {
      Hessian hess(members.front().second->in_features());
      const LayerObserver observe = [&, which = input](LinearInput at, const float* x, std::int64_t m) {
        if (at == which) hess.add(x, m);
      };
      for (const auto& x : xs) {
        Buffer<float> y(x.size());
        std::copy(x.begin(), x.end(), y.begin());
        model.forward_layer(static_cast<int>(li), y.data(), static_cast<std::int64_t>(y.size()) / h, &observe);
      }
      const std::vector<float> hm = hess.matrix();
      // One linear per task, single-threaded BLAS/LAPACK inside: deterministic for any thread count.
      std::vector<GptqResult> results(members.size());
      parallel_tasks(static_cast<std::int64_t>(members.size()), [&](std::int64_t i) {
        const Linear& lin = *members[i].second;
        results[i] = gptq_quantize(detail::dense_f32(lin), lin.out_features(), lin.in_features(), hm, opt.spec,
                                   opt.gptq, prefix + members[i].first);
      });
      for (std::size_t i = 0; i < members.size(); ++i)
        finish_linear(members[i].first, *members[i].second, std::move(results[i].weight), results[i].loss,
                      results[i].damp_used);
    }
    if (opt.feed_quantized) {
      for (auto& x : xs) model.forward_layer(static_cast<int>(li), x.data(), static_cast<std::int64_t>(x.size()) / h, nullptr);
    } else {
      xs = std::move(fp_out);
    }
    progress.advance(1);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ptq
