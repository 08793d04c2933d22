/// @file Quantizing a whole Qwen2 model, layer by layer: RTN, or GPTQ / AWQ over calibration data.
///
/// GPTQ runs true-sequential inside each decoder layer ([q, k, v] -> [o] -> [gate, up] -> [down]): each
/// group's Hessian is gathered by running the layer over every calibration sample with the earlier groups
/// already quantized, as IST-DASLab/gptq's `--true-sequential` does. AWQ captures the four linear inputs of
/// the full-precision layer, searches the four groups' scales on the original weights, folds them into the
/// preceding RMSNorm / linear, clips and quantizes (AutoAWQ's order, awq.hpp). The next layer is fed the
/// quantized layer's outputs (GPTQ's default) or the full-precision ones (AWQ's default); `feed_quantized`
/// chooses. The embeddings and lm_head stay as stored; AWQ changes the norms (and v_proj's bias when v->o is
/// scaled). With `resume_dir`, each finished layer is written there, and a rerun continues after the last one.
#pragma once

#include "ptq/core/parallel.hpp"
#include "ptq/core/progress.hpp"
#include "ptq/core/rng.hpp"
#include "ptq/core/sha256.hpp"
#include "ptq/io/safetensors.hpp"
#include "ptq/model/device.hpp"
#include "ptq/model/image_of.hpp"
#include "ptq/model/qwen2.hpp"
#include "ptq/quant/awq.hpp"
#include "ptq/quant/gptq.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ptq {

enum class Method : std::uint8_t { kRtn, kGptq, kAwq };

inline constexpr std::array<std::string_view, 3> kMethodNames{"rtn", "gptq", "awq"};
inline std::string_view method_name(Method m) { return kMethodNames[static_cast<std::size_t>(m)]; }
inline Method parse_method(std::string_view name) { return enum_from_name<Method>(kMethodNames, name, "method"); }
/// The quantizer grid a method uses (quantizer.hpp).
inline Grid method_grid(Method m) { return m == Method::kAwq ? Grid::kAwq : Grid::kGptq; }

/// The algorithms as policy types, composed with a QuantScheme type into a row (leaderboard/row.hpp's row_of): each
/// names its Method and carries its parameters, plain printable aggregates.
///   ptq::row_of<ptq::W4G128Sym>("gptq", ptq::Gptq{{.damp = 0.05f, .act_order = true}});
struct Rtn {
  static constexpr Method method = Method::kRtn;
};
struct Gptq {
  static constexpr Method method = Method::kGptq;
  GptqParams params;
};
struct Awq {
  static constexpr Method method = Method::kAwq;
  AwqParams params;
};
template <class A>
concept Algorithm = std::same_as<std::remove_cv_t<decltype(A::method)>, Method>;
static_assert(Algorithm<Rtn> && Algorithm<Gptq> && Algorithm<Awq>);

struct CalibrationParams {
  int nsamples = 128;       // windows
  int seqlen = 2048;        // tokens per window
  std::uint64_t seed = 0;   // window start positions
  static constexpr std::array<std::string_view, 3> field_names{"nsamples", "seqlen", "seed"};
};

/// The references' calibration sizes: GPTQ 128 x 2048 tokens (IST-DASLab/gptq), AWQ 128 x 512 (AutoAWQ).
inline CalibrationParams default_calibration(Method m) {
  return {.nsamples = 128, .seqlen = m == Method::kAwq ? 512 : 2048, .seed = 0};
}

struct QuantizeOptions {
  Method method = Method::kRtn;
  QuantSpec spec;
  GptqParams gptq;
  AwqParams awq;
  std::optional<bool> feed_quantized;  // next layer sees the quantized outputs; unset: GPTQ yes, AWQ no
  fs::path resume_dir;                 // per-layer checkpoints (empty: none; the CPU pipeline's)
  Device device = Device::kCpu;        // where GPTQ and AWQ run (RTN, data-free, runs on the host either way)
  bool progress = true;

  [[nodiscard]] bool feeds_quantized() const { return feed_quantized.value_or(method != Method::kAwq); }
};

struct LayerReport {
  std::string name;    // e.g. model.layers.3.mlp.down_proj
  double loss = 0;     // GPTQ: its loss; AWQ: the scale search loss of the linear's group; RTN: Σ (w - q)^2
  float damp = 0;      // GPTQ: damping used; AWQ: the chosen scale ratio
};

struct QuantizeReport {
  std::string device = "cpu";        // where it ran: cpu, or the GPU's name
  std::size_t peak_device_bytes = 0; // GPU runs: most device memory in use
  double seconds = 0;
  std::size_t bytes_before = 0;  // stored bytes of the quantized layers' weights before
  std::size_t bytes_after = 0;   // packed bytes after
  int resumed_layers = 0;        // layers taken from an interrupted run's checkpoints
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

/// The seven linears of a layer in execution order (q, k, v, o, gate, up, down; names: kLinearNames).
inline std::array<Linear*, 7> linears(Qwen2Layer& l) {
  constexpr auto members = linear_members<Qwen2Layer>();
  std::array<Linear*, 7> out;
  for (std::size_t s = 0; s < members.size(); ++s) out[s] = &(l.*members[s]);
  return out;
}

inline DenseWeight dense_weight(const Linear& l) {
  DenseWeight d{l.out_features(), l.in_features(), std::vector<float>(static_cast<std::size_t>(l.weight.numel()))};
  to_float(l.weight, 0, d.w);
  for (std::size_t i = 0; i < d.w.size(); ++i)
    check(std::isfinite(d.w[i]), "", l.weight.name, "element {} is {} (weights must be finite)", i, d.w[i]);
  return d;
}

inline void check_activations(std::span<const float> x, const std::string& where, std::size_t sample) {
  for (std::size_t i = 0; i < x.size(); ++i)
    check(std::isfinite(x[i]), "", where, "calibration sample {}: activation {} is {} (the layer input is not finite)",
          sample, i, x[i]);
}

inline std::int64_t rows_of(const Buffer<float>& x, std::int64_t h) { return static_cast<std::int64_t>(x.size()) / h; }

/// Runs `layer` in place over every calibration sample (one sample per task: the same bits for any thread count).
inline void advance(const Qwen2Model& model, const Qwen2Layer& layer, std::vector<Buffer<float>>& xs) {
  const std::int64_t h = model.config().hidden_size;
  parallel_tasks(static_cast<std::int64_t>(xs.size()),
                 [&](std::int64_t s) { model.forward_layer(layer, xs[s].data(), rows_of(xs[s], h), nullptr); });
}

inline std::vector<Buffer<float>> copy_of(const std::vector<Buffer<float>>& xs) {
  std::vector<Buffer<float>> out;
  for (const auto& x : xs) {
    Buffer<float> y(x.size());
    std::copy(x.data(), x.data() + x.size(), y.data());
    out.push_back(std::move(y));
  }
  return out;
}

inline std::vector<LayerReport> rtn_layer(Qwen2Layer& layer, const QuantSpec& spec, const std::string& prefix) {
  std::vector<LayerReport> out;
  const auto lins = linears(layer);
  for (std::size_t i = 0; i < lins.size(); ++i) {
    const DenseWeight w = dense_weight(*lins[i]);
    PackedWeight p = quantize_rtn(w.w, w.n, w.k, spec, Grid::kGptq);
    std::vector<float> deq(w.w.size());
    p.dequantize_rows(0, p.n, deq.data());
    double loss = 0;
    for (std::size_t j = 0; j < deq.size(); ++j) loss += (w.w[j] - deq[j]) * static_cast<double>(w.w[j] - deq[j]);
    lins[i]->packed = std::make_shared<const PackedWeight>(std::move(p));
    out.push_back({prefix + kLinearNames[i], loss, 0});
  }
  return out;
}

inline std::vector<LayerReport> gptq_layer(const Qwen2Model& model, Qwen2Layer& layer, std::vector<Buffer<float>>& xs,
                                           const QuantizeOptions& opt, const std::string& prefix) {
  const std::int64_t h = model.config().hidden_size;
  std::vector<Buffer<float>> fp_out;
  if (!opt.feeds_quantized()) {
    fp_out = copy_of(xs);
    advance(model, layer, fp_out);
  }
  const auto lins = linears(layer);
  std::vector<LayerReport> out(lins.size());
  for (const LinearGroup& group : kLinearGroups) {
    const LinearInput input = group.input;
    const std::span<const int> members = group.members();
    Hessian hess(lins[members.front()]->in_features());
    std::size_t sample = 0;
    const LayerObserver observe = [&, which = input](LinearInput at, const float* x, std::int64_t m) {
      if (at != which) return;
      check_activations({x, static_cast<std::size_t>(m * hess.k())}, prefix + kLinearNames[members.front()], sample);
      hess.add(x, m);
    };
    // Samples in order (the Hessian sums them in a fixed order); the layer's own products use the threads.
    for (; sample < xs.size(); ++sample) {
      Buffer<float> y(xs[sample].size());
      std::copy(xs[sample].data(), xs[sample].data() + y.size(), y.data());
      model.forward_layer(layer, y.data(), rows_of(y, h), &observe);
    }
    const std::vector<float> hm = hess.matrix();
    // One linear per task, single-threaded BLAS/LAPACK inside: deterministic for any thread count.
    std::vector<GptqResult> results(members.size());
    parallel_tasks(static_cast<std::int64_t>(members.size()), [&](std::int64_t i) {
      const std::size_t li = members[i];
      DenseWeight w = dense_weight(*lins[li]);
      results[i] = gptq_quantize(std::move(w.w), w.n, w.k, hm, opt.spec, opt.gptq, prefix + kLinearNames[li]);
    });
    for (std::size_t i = 0; i < members.size(); ++i) {
      lins[members[i]]->packed = std::make_shared<const PackedWeight>(std::move(results[i].weight));
      out[members[i]] = {prefix + kLinearNames[members[i]], results[i].loss, results[i].damp_used};
    }
  }
  if (opt.feeds_quantized()) advance(model, layer, xs);
  else xs = std::move(fp_out);
  return out;
}

/// AWQ for one decoder layer (AutoAWQ's order): capture the linear inputs of the full-precision layer, search the
/// four groups' scales on the original weights, fold them, clip, quantize.
inline std::vector<LayerReport> awq_layer(const Qwen2Model& model, Qwen2Layer& layer, std::vector<Buffer<float>>& xs,
                                          const QuantizeOptions& opt, const std::string& prefix) {
  const Qwen2Config& c = model.config();
  const std::int64_t h = c.hidden_size;
  const auto ns = static_cast<std::int64_t>(xs.size());
  // Inputs of the four linear groups per sample, indexed by LinearInput; widths (channels) of each.
  const std::array<std::int64_t, 4> width{h, c.q_dim(), h, c.intermediate_size};
  std::array<std::vector<std::vector<float>>, 4> in;
  for (auto& v : in) v.resize(xs.size());
  std::vector<Buffer<float>> fp_out = copy_of(xs);
  parallel_tasks(ns, [&](std::int64_t s) {
    const LayerObserver keep = [&](LinearInput at, const float* x, std::int64_t m) {
      const auto i = static_cast<std::size_t>(at);
      in[i][s].assign(x, x + m * width[i]);
      check_activations(in[i][s], prefix + (i == 0 ? "self_attn" : i == 1 ? "self_attn.o_proj" : "mlp"),
                        static_cast<std::size_t>(s));
    };
    model.forward_layer(layer, fp_out[s].data(), rows_of(fp_out[s], h), &keep);
  });

  // Float32 working copies, and a layer that computes with them.
  const auto lins = linears(layer);
  std::array<DenseWeight, 7> w;
  Qwen2Layer work = layer;
  const auto work_lins = linears(work);
  for (std::size_t i = 0; i < lins.size(); ++i) {
    w[i] = dense_weight(*lins[i]);
    work_lins[i]->weight = {prefix + kLinearNames[i], DType::kF32, {w[i].n, w[i].k},
                            reinterpret_cast<const std::byte*>(w[i].w.data())};
  }
  // The inspected modules, over every sample: attention, o_proj, MLP, down_proj (output (T, H) per sample).
  std::vector<std::int64_t> offset(static_cast<std::size_t>(ns) + 1, 0);
  for (std::int64_t s = 0; s < ns; ++s) offset[s + 1] = offset[s] + rows_of(xs[s], h);
  auto module = [&](LinearInput at) {
    return [&, at](std::vector<float>& out) {
      out.resize(static_cast<std::size_t>(offset.back() * h));
      parallel_tasks(ns, [&](std::int64_t s) {
        const float* x = in[static_cast<std::size_t>(at)][s].data();
        const std::int64_t t = offset[s + 1] - offset[s];
        float* y = out.data() + offset[s] * h;
        switch (at) {
          case LinearInput::kAttention: model.attention(work, x, t, y); break;
          case LinearInput::kAttentionOutput: apply(work.o_proj, x, t, y); break;
          case LinearInput::kMlp: model.mlp(work, x, t, y); break;
          case LinearInput::kMlpDown: apply(work.down_proj, x, t, y); break;
        }
      });
    };
  };
  std::vector<LinearGroup> groups;
  for (const LinearGroup& g : kLinearGroups)
    if (awq_scales_group(g, w[2].n, w[2].k, w[3].n, w[3].k)) groups.push_back(g);

  std::vector<AwqScaleResult> found;
  for (const LinearGroup& g : groups) {
    std::vector<DenseWeight*> members;
    for (const int i : g.members()) members.push_back(&w[static_cast<std::size_t>(i)]);
    const auto i = static_cast<std::size_t>(g.input);
    found.push_back(awq_search_scale(members, awq_x_mean(in[i], width[i]), opt.spec, opt.awq, module(g.input),
                                     prefix + kLinearNames[static_cast<std::size_t>(g.members().front())]));
  }
  // Fold: preceding op's output channels / s, the group's input columns * s, the captured inputs / s.
  std::vector<LayerReport> out(lins.size());
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    const LinearGroup& g = groups[gi];
    const std::vector<float>& s = found[gi].scales;
    if (g.producer < 0) {
      auto& norm = g.input == LinearInput::kAttention ? layer.input_layernorm : layer.post_attention_layernorm;
      for (std::size_t ch = 0; ch < s.size(); ++ch) norm[ch] /= s[ch];
    } else {
      DenseWeight& p = w[static_cast<std::size_t>(g.producer)];
      std::vector<float>& bias = lins[static_cast<std::size_t>(g.producer)]->bias;
      for (std::int64_t r = 0; r < p.n; ++r) {
        for (std::int64_t ch = 0; ch < p.k; ++ch) p.row(r)[ch] /= s[r];
        if (!bias.empty()) bias[r] /= s[r];
      }
    }
    for (const int member : g.members()) {
      const auto m = static_cast<std::size_t>(member);
      for (std::int64_t r = 0; r < w[m].n; ++r)
        for (std::size_t ch = 0; ch < s.size(); ++ch) w[m].row(r)[ch] *= s[ch];
      out[m] = {prefix + kLinearNames[m], found[gi].loss, found[gi].ratio};
    }
    for (auto& x : in[static_cast<std::size_t>(g.input)])
      for (std::size_t j = 0; j < x.size(); ++j) x[j] /= s[j % s.size()];
  }
  // Clip (not q/k: their errors are amplified by the attention softmax), then quantize.
  for (std::size_t i = 0; i < lins.size(); ++i) {
    const auto at = static_cast<std::size_t>(linear_input(static_cast<int>(i)));
    if (opt.awq.clip && i >= 2) awq_clip(w[i], awq_sample_tokens(in[at], width[at], opt.awq.clip_tokens), opt.spec, opt.awq);
    lins[i]->packed = std::make_shared<const PackedWeight>(quantize_rtn(w[i].w, w[i].n, w[i].k, opt.spec, Grid::kAwq));
  }
  if (opt.feeds_quantized()) advance(model, layer, xs);
  else xs = std::move(fp_out);
  return out;
}

/// Finished layers of an interrupted run: <dir>/layer.NNNN/model.safetensors with the layer's packed linears,
/// norms and biases (float32) and its reports; <dir>/run.json fingerprints the run so that only the same run
/// resumes from them.
class LayerCheckpoints {
 public:
  LayerCheckpoints(fs::path dir, const std::string& fingerprint) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    const fs::path run = dir_ / "run.json";
    if (fs::exists(run)) {
      check(read_text_file(run) == fingerprint, run.string(), "",
            "a partial run with other settings (model, method, scheme or calibration) is here; remove the folder or "
            "rerun with the same settings");
    } else {
      write_file_atomic(run, [&](std::ostream& o) { o << fingerprint; });
    }
  }

  [[nodiscard]] bool has(std::size_t li) const { return fs::exists(layer_dir(li) / "model.safetensors"); }

  void save(std::size_t li, Qwen2Layer& layer, const std::vector<LayerReport>& reports) const {
    const std::string prefix = fmt::format("model.layers.{}.", li);
    std::vector<TensorToWrite> t;
    auto bytes = [](const auto& v) {
      return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(v[0]));
    };
    auto vec = [&](const std::string& name, const std::vector<float>& v) {
      t.push_back({name, DType::kF32, {static_cast<std::int64_t>(v.size())}, bytes(v)});
    };
    vec(prefix + "input_layernorm.weight", layer.input_layernorm);
    vec(prefix + "post_attention_layernorm.weight", layer.post_attention_layernorm);
    const auto lins = linears(layer);
    for (std::size_t i = 0; i < lins.size(); ++i) {
      const std::string name = prefix + kLinearNames[i];
      const PackedWeight& p = *lins[i]->packed;
      t.push_back({name + ".qweight", DType::kI32, {p.n, p.words_per_row()}, bytes(p.qweight)});
      t.push_back({name + ".scales", DType::kF16, {p.n, p.groups()}, bytes(p.scales)});
      t.push_back({name + ".qzeros", DType::kI32, {p.n, p.zero_words_per_row()}, bytes(p.qzeros)});
      if (!p.g_idx.empty()) t.push_back({name + ".g_idx", DType::kI32, {p.k}, bytes(p.g_idx)});
      if (!lins[i]->bias.empty()) vec(name + ".bias", lins[i]->bias);
    }
    nlohmann::json rep = nlohmann::json::array();
    for (const auto& r : reports) rep.push_back({r.name, r.loss, r.damp});
    fs::remove_all(layer_dir(li));  // a stale copy from an earlier run with the same fingerprint
    write_folder_atomic(layer_dir(li), [&](const fs::path& tmp) {
      write_safetensors(tmp / "model.safetensors", std::move(t), {{"reports", rep.dump()}});
    });
  }

  [[nodiscard]] std::vector<LayerReport> load(std::size_t li, Qwen2Layer& layer, const QuantSpec& spec) const {
    const std::string prefix = fmt::format("model.layers.{}.", li);
    const TensorStore store = TensorStore::open(layer_dir(li));
    layer.input_layernorm = bind_vector(store, prefix + "input_layernorm.weight",
                                        static_cast<std::int64_t>(layer.input_layernorm.size()));
    layer.post_attention_layernorm = bind_vector(store, prefix + "post_attention_layernorm.weight",
                                                 static_cast<std::int64_t>(layer.post_attention_layernorm.size()));
    const auto lins = linears(layer);
    for (std::size_t i = 0; i < lins.size(); ++i) {
      const std::string name = prefix + kLinearNames[i];
      Linear& l = *lins[i];
      l.packed = std::make_shared<const PackedWeight>(bind_packed(store, name, l.out_features(), l.in_features(), QuantizedCheckpoint{spec}));
      if (!l.bias.empty()) l.bias = bind_vector(store, name + ".bias", static_cast<std::int64_t>(l.bias.size()));
    }
    const SafetensorsFile file(layer_dir(li) / "model.safetensors");
    const auto it = file.metadata().find("reports");
    check(it != file.metadata().end(), file.path(), "__metadata__", "no \"reports\" entry");
    std::vector<LayerReport> out;
    for (const auto& r : nlohmann::json::parse(it->second))
      out.push_back({r.at(0).get<std::string>(), r.at(1).get<double>(), r.at(2).get<float>()});
    return out;
  }

 private:
  [[nodiscard]] fs::path layer_dir(std::size_t li) const { return dir_ / fmt::format("layer.{:04}", li); }
  fs::path dir_;
};

/// What must match for a run to resume from another's layers.
inline std::string run_fingerprint(const Qwen2Model& model, const QuantizeOptions& opt,
                                   const std::vector<std::vector<std::int32_t>>& calibration) {
  Sha256 ids;
  for (const auto& s : calibration) ids.update(s.data(), s.size() * sizeof(s[0]));
  nlohmann::ordered_json j{{"model", fs::absolute(model.dir()).lexically_normal().string()},
                           {"method", method_name(opt.method)},
                           {"scheme", config_name(opt.spec)},
                           {"gptq", fmt::format("{}", opt.gptq)},
                           {"awq", fmt::format("{}", opt.awq)},
                           {"feed_quantized", opt.feeds_quantized()},
                           {"calibration_sha256", ids.hex()}};
  return j.dump(2) + "\n";
}

}  // namespace detail

namespace detail {
/// GPTQ or AWQ of the whole model on the GPU (model/device.hpp's cuda_quantize), installed into the host model: its
/// packed weights, and the norms and biases AWQ folded its scales into. No per-layer resume: a GPU run is redone.
inline QuantizeReport quantize_on_gpu(Qwen2Model& model, const QuantizeOptions& opt,
                                      const std::vector<std::vector<std::int32_t>>& calibration) {
  const auto t0 = std::chrono::steady_clock::now();
  const GpuQuantizeRequest request{opt.method == Method::kAwq, opt.spec, opt.gptq, opt.awq, opt.feeds_quantized()};
  GpuQuantized q = cuda_quantize(image_of(model), request, calibration);
  auto& layers = model.weights().layers;
  check(q.weights.size() == 7 * layers.size() && q.bias.size() == q.weights.size() && q.loss.size() == q.weights.size() &&
            q.damp.size() == q.weights.size() && q.input_norm.size() == layers.size() && q.post_norm.size() == layers.size(),
        "", "cuda_quantize", "returned {} linears for {} layers", q.weights.size(), layers.size());
  QuantizeReport report;
  report.device = q.device;
  report.peak_device_bytes = q.peak_bytes;
  for (std::size_t li = 0; li < layers.size(); ++li) {
    Qwen2Layer& layer = layers[li];
    const std::array<Linear*, 7> lin = linears(layer);
    for (std::size_t s = 0; s < lin.size(); ++s) {
      const std::size_t i = li * 7 + s;
      const std::string name = fmt::format("model.layers.{}.{}", li, kLinearNames[s]);
      PackedWeight p = packed_weight(q.weights[i], name);
      check(p.n == lin[s]->out_features() && p.k == lin[s]->in_features() && q.bias[i].size() == lin[s]->bias.size(), name,
            "cuda_quantize", "returned a ({}, {}) weight for a ({}, {}) linear", p.n, p.k, lin[s]->out_features(),
            lin[s]->in_features());
      report.bytes_before += lin[s]->weight.nbytes();
      lin[s]->packed = std::make_shared<const PackedWeight>(std::move(p));
      lin[s]->bias = std::move(q.bias[i]);
      report.bytes_after += lin[s]->packed->nbytes();
      report.layers.push_back({name, q.loss[i], q.damp[i]});
    }
    layer.input_layernorm = std::move(q.input_norm[li]);
    layer.post_attention_layernorm = std::move(q.post_norm[li]);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}
}  // namespace detail

/// Quantizes every linear layer of `model` in place (their `packed` is set; AWQ also rescales norms and biases).
/// `calibration` (token windows) is needed for GPTQ and AWQ, which run on `opt.device`.
inline QuantizeReport quantize_model(Qwen2Model& model, const QuantizeOptions& opt,
                                     const std::vector<std::vector<std::int32_t>>& calibration = {}) {
  validate(opt.spec, "quantize");
  if (opt.device == Device::kCuda && opt.method != Method::kRtn) {
    check(!calibration.empty(), "", "calibration", "{} needs calibration samples", method_name(opt.method));
    return detail::quantize_on_gpu(model, opt, calibration);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const bool calibrated = opt.method != Method::kRtn;
  check(!calibrated || !calibration.empty(), "", "calibration", "{} needs calibration samples", method_name(opt.method));
  if (calibrated) {  // the calibration activations held per layer (float32): stream (+ full-precision copy) [+ AWQ's inputs]
    std::size_t tokens = 0;
    for (const auto& c : calibration) tokens += c.size();
    const Qwen2Config& c = model.config();
    const std::size_t per_token = opt.method == Method::kAwq
                                      ? 2 * c.hidden_size + 2 * c.hidden_size + c.q_dim() + c.intermediate_size
                                      : 2 * static_cast<std::size_t>(c.hidden_size);
    check_memory(tokens * per_token * sizeof(float), "calibration",
                 fmt::format("{} x {} tokens", calibration.size(), calibration.front().size()));
  }
  std::optional<detail::LayerCheckpoints> done;
  if (!opt.resume_dir.empty()) done.emplace(opt.resume_dir, detail::run_fingerprint(model, opt, calibration));

  QuantizeReport report;
  auto& layers = model.weights().layers;
  Progress progress(fmt::format("quantize ({})", method_name(opt.method)), static_cast<double>(layers.size()), "layers",
                    opt.progress);
  std::vector<Buffer<float>> xs;  // residual stream per calibration sample, at the current layer's input
  if (calibrated)
    for (const auto& s : calibration) xs.push_back(model.embed(s));
  for (std::size_t li = 0; li < layers.size(); ++li) {
    Qwen2Layer& layer = layers[li];
    const std::string prefix = fmt::format("model.layers.{}.", li);
    std::vector<LayerReport> reps;
    if (done && done->has(li)) {
      // Recompute the stream exactly as the interrupted run did: full-precision outputs before loading the
      // layer's quantized state, quantized outputs after.
      if (calibrated && !opt.feeds_quantized()) detail::advance(model, layer, xs);
      reps = done->load(li, layer, opt.spec);
      if (calibrated && opt.feeds_quantized()) detail::advance(model, layer, xs);
      ++report.resumed_layers;
    } else {
      switch (opt.method) {
        case Method::kRtn: reps = detail::rtn_layer(layer, opt.spec, prefix); break;
        case Method::kGptq: reps = detail::gptq_layer(model, layer, xs, opt, prefix); break;
        case Method::kAwq: reps = detail::awq_layer(model, layer, xs, opt, prefix); break;
      }
      if (done) done->save(li, layer, reps);
    }
    for (Linear* l : detail::linears(layer)) {
      report.bytes_before += l->weight.nbytes();
      report.bytes_after += l->packed->nbytes();
    }
    report.layers.insert(report.layers.end(), reps.begin(), reps.end());
    progress.advance(1);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ptq
