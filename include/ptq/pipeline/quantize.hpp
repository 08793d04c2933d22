/// @file Quantizing a whole Qwen2 model, layer by layer, on the CPU or the GPU: RTN, or GPTQ / AWQ over calibration
/// data. The steps are written once (pipeline/layerwise.hpp's quantize_layers); here are the host's options, its
/// report, the calibration windows, the per-layer checkpoints and `quantize_model`, which runs the driver with the
/// CPU backend (pipeline/cpu_layers.hpp) or on the GPU through the bridge (cuda_quantize_layers).
///
/// GPTQ runs true-sequential inside each decoder layer ([q, k, v] -> [o] -> [gate, up] -> [down]): each
/// group's Hessian is gathered by running the layer over every calibration sample with the earlier groups
/// already quantized, as IST-DASLab/gptq's `--true-sequential` does. AWQ captures the four linear inputs of
/// the full-precision layer, searches each group's scales on the original weights and folds them into the
/// preceding RMSNorm / linear, then clips and quantizes (AutoAWQ's order, awq.hpp). The next layer is fed the
/// quantized layer's outputs (GPTQ's default) or the full-precision ones (AWQ's default); `feed_quantized`
/// chooses. The embeddings and lm_head stay as stored; AWQ changes the norms (and v_proj's bias when v->o is
/// scaled). With `resume_dir`, each finished layer is written there, and a rerun continues after the last one
/// (on either device).
#pragma once

#include "ptq/checkpoint/bind.hpp"
#include "ptq/core/progress.hpp"
#include "ptq/core/rng.hpp"
#include "ptq/core/sha256.hpp"
#include "ptq/io/safetensors.hpp"
#include "ptq/kernels/ref/matmul_path.hpp"
#include "ptq/model/device.hpp"
#include "ptq/model/image_of.hpp"
#include "ptq/pipeline/cpu_layers.hpp"
#include "ptq/pipeline/mixed.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ptq {

inline Method parse_method(std::string_view name) { return enum_from_name<Method>(kMethodNames, name, "method"); }

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
  bool first = false;       // the first nsamples consecutive windows from the start (a peer's "first N samples"),
                            // not random ones (the references' default)
  static constexpr std::array<std::string_view, 4> field_names{"nsamples", "seqlen", "seed", "first"};
};

/// The references' calibration sizes: GPTQ 128 x 2048 tokens (IST-DASLab/gptq), AWQ 128 x 512 (AutoAWQ).
inline CalibrationParams default_calibration(Method m) {
  return {.nsamples = 128, .seqlen = m == Method::kAwq ? 512 : 2048, .seed = 0};
}

struct QuantizeOptions {
  Method method = Method::kRtn;
  QuantSpec spec;                      // every linear's scheme, unless `mixed` chooses one per linear
  std::optional<MixedParams> mixed;    // mixed precision under a bit budget (pipeline/mixed.hpp; CPU only)
  GptqParams gptq;
  AwqParams awq;
  std::optional<bool> feed_quantized;  // next layer sees the quantized outputs; unset: GPTQ yes, AWQ no
  fs::path resume_dir;                 // per-layer checkpoints (empty: none)
  Device device = Device::kCpu;        // where the layers are quantized (the GPU: the model in bf16)
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
  std::optional<MixedPlan> mixed;  // mixed precision: the measured sensitivity's allocation
};

/// `nsamples` windows of `seqlen` tokens from `ids`: random (start positions uniform, seeded; the text must hold at
/// least one window), or with `first` the consecutive windows from the start (the text must hold them all).
inline std::vector<std::vector<std::int32_t>> calibration_windows(std::span<const std::int32_t> ids,
                                                                  const CalibrationParams& p) {
  check(p.seqlen > 0 && p.nsamples > 0, "", "calibration", "nsamples and seqlen must be positive");
  std::vector<std::vector<std::int32_t>> out;
  if (p.first) {
    const auto need = static_cast<std::size_t>(p.nsamples) * static_cast<std::size_t>(p.seqlen);
    check(ids.size() >= need, "", "calibration", "the calibration text has {} tokens, fewer than {} windows of {}",
          ids.size(), p.nsamples, p.seqlen);
    for (std::size_t b = 0; b < need; b += static_cast<std::size_t>(p.seqlen))
      out.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(b), ids.begin() + static_cast<std::ptrdiff_t>(b + p.seqlen));
    return out;
  }
  check(static_cast<std::int64_t>(ids.size()) > p.seqlen, "", "calibration",
        "the calibration text has {} tokens, fewer than one window of {} + 1", ids.size(), p.seqlen);
  Rng rng(p.seed);
  const std::uint64_t starts = ids.size() - static_cast<std::size_t>(p.seqlen);
  for (int s = 0; s < p.nsamples; ++s) {
    const auto b = static_cast<std::ptrdiff_t>(rng.below(starts));
    out.emplace_back(ids.begin() + b, ids.begin() + b + p.seqlen);
  }
  return out;
}

namespace detail {

/// Finished layers of an interrupted run: <dir>/layer.NNNN/model.safetensors with the layer's packed linears,
/// norms and biases (float32) and its linears' results; <dir>/run.json fingerprints the run so that only the same
/// run resumes from them.
class LayerCheckpoints {
 public:
  LayerCheckpoints(fs::path dir, const std::string& fingerprint) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    const fs::path run = dir_ / "run.json";
    if (fs::exists(run)) {
      check(read_text_file(run) == fingerprint, run.string(), "",
            "a partial run with other settings (model, method, scheme, calibration or device) is here; remove the "
            "folder or rerun with the same settings");
    } else {
      write_file_atomic(run, [&](std::ostream& o) { o << fingerprint; });
    }
  }

  [[nodiscard]] bool has(std::size_t li) const { return fs::exists(layer_dir(li) / "model.safetensors"); }

  void save(std::size_t li, const LayerState& s) const {
    const std::string prefix = fmt::format("model.layers.{}.", li);
    std::vector<TensorToWrite> t;
    auto bytes = [](const auto& v) {
      return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(v[0]));
    };
    auto vec = [&](const std::string& name, const std::vector<float>& v) {
      t.push_back({name, DType::kF32, {static_cast<std::int64_t>(v.size())}, bytes(v)});
    };
    vec(prefix + "input_layernorm.weight", s.input_norm);
    vec(prefix + "post_attention_layernorm.weight", s.post_norm);
    nlohmann::json results = nlohmann::json::array();
    for (std::size_t i = 0; i < s.linears.size(); ++i) {
      const std::string name = prefix + kLinearNames[i];
      const PackedArrays& p = s.linears[i];
      const PackedView l = p.view();
      t.push_back({name + ".qweight", DType::kI32, {p.n, l.words_per_row()}, bytes(p.qweight)});
      t.push_back({name + ".scales", DType::kF16, {p.n, l.groups()}, bytes(p.scales)});
      t.push_back({name + ".qzeros", DType::kI32, {p.n, l.zero_words_per_row()}, bytes(p.qzeros)});
      if (!p.g_idx.empty()) t.push_back({name + ".g_idx", DType::kI32, {p.k}, bytes(p.g_idx)});
      if (!s.bias[i].empty()) vec(name + ".bias", s.bias[i]);
      results.push_back({kLinearNames[i], s.results[i].loss, s.results[i].damp});
    }
    fs::remove_all(layer_dir(li));  // a stale copy from an earlier run with the same fingerprint
    write_folder_atomic(layer_dir(li), [&](const fs::path& tmp) {
      write_safetensors(tmp / "model.safetensors", std::move(t), {{"results", results.dump()}});
    });
  }

  /// Layer `li` as saved, checked against the shapes of `layer` (the model's) and the run's schemes.
  [[nodiscard]] LayerState load(std::size_t li, const Qwen2Layer& layer, const LayerwiseRequest& r) const {
    const std::string prefix = fmt::format("model.layers.{}.", li);
    const TensorStore store = TensorStore::open(layer_dir(li));
    LayerState s;
    s.input_norm = bind_vector(store, prefix + "input_layernorm.weight",
                               static_cast<std::int64_t>(layer.input_layernorm.size()));
    s.post_norm = bind_vector(store, prefix + "post_attention_layernorm.weight",
                              static_cast<std::int64_t>(layer.post_attention_layernorm.size()));
    const auto lins = CpuLayers::linears(layer);
    for (std::size_t i = 0; i < lins.size(); ++i) {
      const std::string name = prefix + kLinearNames[i];
      const Linear& l = *lins[i];
      const QuantizedCheckpoint layout{r.spec_for(li, static_cast<int>(i)), CheckpointFormat::kNative, 0, {}};
      s.linears[i] = packed_arrays(bind_packed(store, name, l.out_features(), l.in_features(), layout));
      if (!l.bias.empty()) s.bias[i] = bind_vector(store, name + ".bias", static_cast<std::int64_t>(l.bias.size()));
    }
    const SafetensorsFile file(layer_dir(li) / "model.safetensors");
    const auto it = file.metadata().find("results");
    check(it != file.metadata().end(), file.path(), "__metadata__", "no \"results\" entry");
    const nlohmann::json results = nlohmann::json::parse(it->second, nullptr, false);
    check(results.is_array() && results.size() == s.results.size(), file.path(), "__metadata__.results",
          "not an array of {} [name, loss, damp] entries", s.results.size());
    for (std::size_t i = 0; i < s.results.size(); ++i) {
      const nlohmann::json& r = results[i];
      check(r.is_array() && r.size() == 3 && r[1].is_number() && r[2].is_number(), file.path(), "__metadata__.results",
            "entry {} is not [name, loss, damp]", i);
      s.results[i] = {r[1].get<double>(), r[2].get<float>()};
    }
    return s;
  }

 private:
  [[nodiscard]] fs::path layer_dir(std::size_t li) const { return dir_ / fmt::format("layer.{:04}", li); }
  fs::path dir_;
};

/// What must match for a run to resume from another's layers.
inline std::string run_fingerprint(const Qwen2Model& model, const QuantizeOptions& opt, const LayerwiseRequest& r,
                                   const std::vector<std::vector<std::int32_t>>& calibration) {
  Sha256 ids;
  for (const auto& s : calibration) ids.update(s.data(), s.size() * sizeof(s[0]));
  std::string schemes = config_name(r.spec);  // or every linear's, in order
  for (const auto& layer : r.linear_specs)
    for (const QuantSpec& s : layer) schemes += " " + config_name(s);
  nlohmann::ordered_json j{{"model", fs::absolute(model.dir()).lexically_normal().string()},
                           {"method", method_name(opt.method)},
                           {"scheme", r.mixed() ? sha256_hex(schemes) : config_name(r.spec)},
                           {"gptq", fmt::format("{}", opt.gptq)},
                           {"awq", fmt::format("{}", opt.awq)},
                           {"feed_quantized", opt.feeds_quantized()},
                           {"calibration_sha256", ids.hex()},
                           {"device", opt.device == Device::kCuda ? "cuda" : "cpu"},
                           {"matmul", ref::matmul_path_name(ref::matmul_path())}};  // the calibration's forward passes
  return j.dump(2) + "\n";
}

/// The host's side of a run: finished layers saved to (and resumed from) the checkpoints, installed into the host
/// model when another device quantized them (`install`; the CPU backend quantizes the host model in place, and
/// restores a resumed layer there itself), reported, counted.
class HostLedger final : public LayerLedger {
 public:
  HostLedger(Qwen2Model& model, const QuantizeOptions& opt, const LayerwiseRequest& request,
             const std::vector<std::vector<std::int32_t>>& calibration, QuantizeReport& report, bool install)
      : model_(model), request_(request), report_(report), install_(install),
        progress_(fmt::format("quantize ({})", method_name(opt.method)),
                  static_cast<double>(model.weights().layers.size()), "layers", opt.progress) {
    if (!opt.resume_dir.empty()) checkpoints_.emplace(opt.resume_dir, run_fingerprint(model, opt, request, calibration));
  }
  [[nodiscard]] bool has(std::size_t li) const override { return checkpoints_ && checkpoints_->has(li); }
  [[nodiscard]] LayerState load(std::size_t li) const override {
    return checkpoints_->load(li, model_.weights().layers.at(li), request_);
  }
  void done(std::size_t li, const LayerState& s, bool resumed) override {
    if (checkpoints_ && !resumed) checkpoints_->save(li, s);
    const std::string prefix = fmt::format("model.layers.{}.", li);
    Qwen2Layer& layer = model_.weights().layers.at(li);
    if (install_) CpuLayers::install(layer, s, prefix);
    const auto lins = CpuLayers::linears(layer);
    for (std::size_t i = 0; i < lins.size(); ++i) {
      report_.bytes_before += lins[i]->weight.nbytes();
      report_.bytes_after += lins[i]->packed->nbytes();
      report_.layers.push_back({prefix + kLinearNames[i], s.results[i].loss, s.results[i].damp});
    }
    report_.resumed_layers += resumed ? 1 : 0;
    progress_.advance(1);
  }

 private:
  Qwen2Model& model_;
  const LayerwiseRequest& request_;
  QuantizeReport& report_;
  bool install_;
  Progress progress_;
  std::optional<LayerCheckpoints> checkpoints_;
};

}  // namespace detail

/// Quantizes every linear layer of `model` in place (their `packed` is set; AWQ also rescales norms and biases) on
/// `opt.device`. `calibration` (token windows) is needed for GPTQ and AWQ.
inline QuantizeReport quantize_model(Qwen2Model& model, const QuantizeOptions& opt,
                                     const std::vector<std::vector<std::int32_t>>& calibration = {}) {
  validate(opt.spec, "quantize");
  const bool calibrated = opt.method != Method::kRtn || opt.mixed;
  check(!calibrated || !calibration.empty(), "", "calibration", "{} needs calibration samples",
        opt.mixed ? "mixed precision (its sensitivity)" : method_name(opt.method));
  if (calibrated && opt.device == Device::kCpu) {
    // The calibration activations held per layer (float32): stream + kept outputs [+ AWQ's inputs].
    std::size_t tokens = 0;
    for (const auto& c : calibration) tokens += c.size();
    const Qwen2Config& c = model.config();
    const std::size_t per_token = opt.method == Method::kAwq
                                      ? 2 * c.hidden_size + 2 * c.hidden_size + c.q_dim() + c.intermediate_size
                                      : 2 * static_cast<std::size_t>(c.hidden_size);
    check_memory(tokens * per_token * sizeof(float), "calibration",
                 fmt::format("{} x {} tokens", calibration.size(), calibration.front().size()));
  }
  LayerwiseRequest request{opt.method, opt.spec, opt.gptq, opt.awq, opt.feeds_quantized(), {}};
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeReport report;
  if (opt.mixed) {
    check(opt.device == Device::kCpu, "", "--mixed", "mixed precision is quantized on the CPU (the GPU backend is "
          "instantiated for one scheme per model)");
    check(!opt.mixed->candidates.empty(), "", "--candidates", "mixed precision needs candidate schemes");
    for (const QuantSpec& c : opt.mixed->candidates) validate(c, "--candidates");
    CpuLayers cpu(model, request);
    report.mixed = plan_mixed(measure_sensitivity(cpu, opt.mixed->candidates, calibration, opt.progress), opt.method,
                              opt.mixed->budget_bits);
    request.linear_specs = report.mixed->linear_specs;
  }
  detail::HostLedger ledger(model, opt, request, calibration, report, opt.device == Device::kCuda);
  if (opt.device == Device::kCuda) {
    const DeviceRun run = cuda_quantize_layers(image_of(model), request, calibration, ledger);
    report.device = run.device;
    report.peak_device_bytes = run.peak_bytes;
  } else {
    CpuLayers cpu(model, request);
    quantize_layers(cpu, request, calibration, ledger);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ptq
