/// @file The GPU's steps of a layer-by-layer quantization (pipeline/layerwise.hpp's LayerBackend) on a Qwen2Gpu:
/// the calibration streams stay on the device (float32 residual streams, T·H·4 bytes each), linear inputs are
/// seen in T (fp16/bf16), GPTQ's per-linear solve is quant/cuda/gptq.cuh, AWQ's search, fold and clip
/// quant/cuda/awq.cuh, RTN and packing kernels/cuda. The driver is the CPU's: quantize_layers.
/// Differences from the CPU backend (pipeline/cpu_layers.hpp): the Hessians and AWQ's captured inputs, module outputs
/// and working weights are stored in T rather than float32; sums run in other orders.
///
///   ptq::cuda::GpuLayers<__nv_bfloat16, ptq::W4G128Sym> gpu(image, request);
///   ptq::KeptLayers kept;
///   ptq::quantize_layers(gpu, request, calibration, kept);   // gpu.model() now runs the quantized model
#pragma once

#include "ptq/model/cuda/qwen2.cuh"
#include "ptq/pipeline/layerwise.hpp"
#include "ptq/quant/cuda/awq.cuh"
#include "ptq/quant/cuda/gptq.cuh"

#include <limits>

namespace ptq::cuda {

template <Half16 T, QuantSchemeLike Scheme>
class GpuLayers {
 public:
  using Model = Qwen2Gpu<T, Scheme>;

  GpuLayers(const ModelImage& img, const LayerwiseRequest& r) : model_(img), r_(r), cublas_(make_cublas()) {
    if (r.spec.bits != Scheme::bits || r.spec.group_size != Scheme::group_size || r.spec.symmetry != Scheme::symmetry)
      throw std::runtime_error("ptq cuda: GpuLayers: the request's scheme is not the model's");
  }

  [[nodiscard]] Model& model() { return model_; }
  [[nodiscard]] std::size_t peak_bytes() const { return peak_; }

  [[nodiscard]] std::size_t num_layers() const { return model_.num_layers(); }
  [[nodiscard]] std::array<std::int64_t, 2> shape(std::size_t li, int slot) const {
    return {model_.out_features(li, slot), model_.in_features(li, slot)};
  }

  void embed(const std::vector<std::vector<std::int32_t>>& calibration) {
    xs_.clear();
    lens_.clear();
    tokens_ = 0;
    for (const auto& ids : calibration) {
      xs_.push_back(model_.embed(ids));
      lens_.push_back(static_cast<std::int64_t>(ids.size()));
      tokens_ += lens_.back();
    }
    note_peak();
  }
  void advance(std::size_t li) {
    awq_ = {};
    for (std::size_t s = 0; s < xs_.size(); ++s) model_.forward_layer(li, xs_[s].get(), lens_[s]);
    note_peak();
  }
  void keep_full_precision(std::size_t li) {
    fp_out_.clear();
    for (std::size_t s = 0; s < xs_.size(); ++s) {
      fp_out_.emplace_back(xs_[s].size());
      copy(xs_[s], fp_out_.back());
      model_.forward_layer(li, fp_out_.back().get(), lens_[s]);
    }
    note_peak();
  }
  void take_full_precision() {
    awq_ = {};
    xs_ = std::move(fp_out_);
    fp_out_.clear();
  }

  void rtn(std::size_t li, int slot, std::array<LinearResult, 7>& results) {
    const std::int64_t n = model_.out_features(li, slot), k = model_.in_features(li, slot), gs = group(k);
    const std::int64_t groups = (k + gs - 1) / gs;
    const DeviceBuffer<float> w = model_.dense_weight(li, slot);
    DeviceBuffer<std::uint8_t> codes(static_cast<std::size_t>(n * k));
    DeviceBuffer<GroupParams> grid(static_cast<std::size_t>(groups * n));
    DeviceBuffer<double> err(static_cast<std::size_t>(groups * n));
    throw_if_failed(cuda::rtn<Scheme>(w.get(), n, k, gs, method_grid(Method::kRtn), codes.get(), grid.get(), err.get()),
                    "rtn");
    double loss = 0;
    for (const double e : err.download()) loss += e;  // in a fixed order
    install(li, slot, detail::pack_arrays<Scheme>(codes.get(), grid.get(), n, k));
    results[static_cast<std::size_t>(slot)] = {loss, 0};
  }

  void gptq(std::size_t li, const LinearGroup& g, std::array<LinearResult, 7>& results) {
    const LinearInput which = g.input;
    GpuHessian hess(model_.in_features(li, g.members().front()));
    const typename Model::Observer observe = [&](LinearInput at, const T* x, std::int64_t m) {
      if (at == which) hess.add(x, m);
    };
    for (std::size_t s = 0; s < xs_.size(); ++s) {  // in order: the Hessian sums the samples in a fixed order
      copy(xs_[s], y_);
      model_.forward_layer(li, y_.get(), lens_[s], &observe);
    }
    for (const int slot : g.members()) {
      const DeviceBuffer<float> w = model_.dense_weight(li, slot);
      GpuHessian work = hess.clone();
      GptqGpuResult r =
          gptq_quantize<Scheme>(w.get(), model_.out_features(li, slot), model_.in_features(li, slot), work, r_.gptq);
      note_peak();
      install(li, slot, std::move(r.weight));
      results[static_cast<std::size_t>(slot)] = {r.loss, r.damp_used};
    }
  }

  void awq_capture(std::size_t li) {
    awq_ = {};
    fp_out_.clear();
    for (std::size_t s = 0; s < xs_.size(); ++s) {
      fp_out_.emplace_back(xs_[s].size());
      copy(xs_[s], fp_out_.back());
      const typename Model::Observer keep = [&](LinearInput at, const T* x, std::int64_t m) {
        const auto i = static_cast<std::size_t>(at);
        awq_.width[i] = model_.in_features(li, kLinearGroups[i].members().front());
        awq_.in[i].emplace_back(static_cast<std::size_t>(m * awq_.width[i]));
        throw_if_failed(cudaMemcpy(awq_.in[i].back().get(), x, awq_.in[i].back().bytes(), cudaMemcpyDeviceToDevice),
                        "awq capture");
      };
      model_.forward_layer(li, fp_out_[s].get(), lens_[s], &keep);
    }
    typename Model::Layer& layer = model_.layer(li);
    for (int i = 0; i < 7; ++i) {
      awq_.w[i] = model_.dense_weight(li, i);
      awq_.n[i] = model_.out_features(li, i);
      awq_.k[i] = model_.in_features(li, i);
      awq_.work.lin[i] = Model::dense_linear(awq_.w[i].get(), awq_.n[i], awq_.k[i],
                                             layer.lin[i].bias.size() ? layer.lin[i].bias.get() : nullptr);
    }
    note_peak();
  }

  /// The group's scale search on the original weights (20 ratios; each: scale, fake-quantize, run the module over
  /// every sample, mean squared error against the full-precision output), then the best scales folded in.
  void awq_scale(std::size_t li, const LinearGroup& g, std::array<LinearResult, 7>& results) {
    const std::int64_t k = awq_.k[g.members().front()], gs = group(k);
    const auto in = static_cast<std::size_t>(g.input);
    std::vector<const DeviceBuffer<float>*> mw;
    std::vector<std::int64_t> mn;
    for (const int m : g.members()) {
      mw.push_back(&awq_.w[m]);
      mn.push_back(awq_.n[m]);
    }
    const std::vector<float> xm = detail::x_mean(awq_.in[in], k), wm = detail::w_mean(mw, mn, k, gs);
    DeviceBuffer<T> reference, out;
    run_module(g.input, reference);
    double best_loss = std::numeric_limits<double>::infinity();
    float best_ratio = 0;
    DeviceBuffer<float> best(static_cast<std::size_t>(k)), s(static_cast<std::size_t>(k));
    for (int i = 0; i < r_.awq.n_grid; ++i) {
      const float ratio = static_cast<float>(i) / static_cast<float>(r_.awq.n_grid);
      const std::vector<float> cand = awq_candidate_scales(xm, wm, ratio, r_.awq.duo_scaling);
      throw_if_failed(cudaMemcpy(s.get(), cand.data(), s.bytes(), cudaMemcpyHostToDevice), "awq scales");
      for (const int m : g.members())
        throw_if_failed(scaled_fake_quantize<Scheme>(awq_.w[m].get(), awq_.n[m], k, gs, s.get(), awq_.work.lin[m].dense.get()),
                        "awq scale search");
      run_module(g.input, out);
      const double loss = detail::squared_difference(reference.get(), out.get(), tokens_ * model_.hidden_size()) /
                          static_cast<double>(tokens_ * model_.hidden_size());
      if (loss < best_loss) {
        best_loss = loss;
        best_ratio = ratio;
        throw_if_failed(cudaMemcpy(best.get(), s.get(), s.bytes(), cudaMemcpyDeviceToDevice), "awq scales");
      }
      for (const int m : g.members())  // the module's weights back to the originals
        throw_if_failed(narrow(awq_.w[m].get(), awq_.n[m] * k, awq_.work.lin[m].dense.get()), "awq scale search");
    }
    if (!(best_loss < std::numeric_limits<double>::infinity()))
      throw std::runtime_error("ptq cuda awq: layer " + std::to_string(li) + ": the scale search loss is not finite");
    // Fold: the preceding op's output channels / s, the group's input columns · s, the captured inputs / s.
    typename Model::Layer& layer = model_.layer(li);
    if (g.producer < 0) {
      DeviceBuffer<float>& norm = g.input == LinearInput::kAttention ? layer.input_norm : layer.post_norm;
      throw_if_failed(divide(norm.get(), k, best.get()), "awq fold");
    } else {
      const auto p = static_cast<std::size_t>(g.producer);
      throw_if_failed(divide_rows(awq_.w[p].get(), awq_.n[p], awq_.k[p], best.get()), "awq fold");
      if (layer.lin[p].bias.size()) throw_if_failed(divide(layer.lin[p].bias.get(), awq_.n[p], best.get()), "awq fold");
    }
    for (const int m : g.members()) {
      throw_if_failed(scale_columns(awq_.w[m].get(), awq_.n[m], k, best.get()), "awq fold");
      results[static_cast<std::size_t>(m)] = {best_loss, best_ratio};
    }
    for (auto& x : awq_.in[in])
      throw_if_failed(divide_columns(x.get(), static_cast<std::int64_t>(x.size()) / k, k, best.get()), "awq fold");
    note_peak();
  }

  /// Clip (not q/k: the attention softmax amplifies their errors), then quantize with AutoAWQ's grid.
  void awq_quantize(std::size_t li, int slot) {
    const auto i = static_cast<std::size_t>(slot), at = static_cast<std::size_t>(linear_input(slot));
    const std::int64_t n = awq_.n[i], k = awq_.k[i], gs = group(k), groups = (k + gs - 1) / gs;
    if (r_.awq.clip && slot >= 2) {
      std::int64_t t_len = 0;
      const DeviceBuffer<T> sample = detail::sample_rows(awq_.in[at], k, r_.awq.clip_tokens, &t_len);
      detail::clip<Scheme, T>(awq_.w[i].get(), n, k, sample, t_len, r_.awq, cublas_.get());
    }
    DeviceBuffer<std::uint8_t> codes(static_cast<std::size_t>(n * k));
    DeviceBuffer<GroupParams> grid(static_cast<std::size_t>(groups * n));
    throw_if_failed(cuda::rtn<Scheme>(awq_.w[i].get(), n, k, gs, method_grid(Method::kAwq), codes.get(), grid.get()),
                    "awq rtn");
    install(li, slot, detail::pack_arrays<Scheme>(codes.get(), grid.get(), n, k));
    note_peak();
  }

  /// The layer after its steps: the packed weights it was given, its norms and biases from the device.
  [[nodiscard]] LayerState layer_state(std::size_t li) const {
    if (packed_layer_ != li) throw std::runtime_error("ptq cuda: layer_state of a layer not quantized last");
    LayerState s;
    const typename Model::Layer& layer = model_.layer(li);
    s.linears = packed_;
    for (std::size_t i = 0; i < 7; ++i)
      if (layer.lin[i].bias.size()) s.bias[i] = layer.lin[i].bias.download();
    s.input_norm = layer.input_norm.download();
    s.post_norm = layer.post_norm.download();
    return s;
  }

  void restore(std::size_t li, const LayerState& s) {
    for (int i = 0; i < 7; ++i) {
      install(li, i, s.linears[static_cast<std::size_t>(i)]);
      const std::vector<float>& b = s.bias[static_cast<std::size_t>(i)];
      if (!b.empty()) model_.layer(li).lin[static_cast<std::size_t>(i)].bias = DeviceBuffer<float>(b);
    }
    model_.layer(li).input_norm = DeviceBuffer<float>(s.input_norm);
    model_.layer(li).post_norm = DeviceBuffer<float>(s.post_norm);
  }

 private:
  /// AWQ's state within one layer (awq_capture to awq_quantize).
  struct AwqWork {
    std::array<std::vector<DeviceBuffer<T>>, 4> in;  // per LinearInput, per sample: (tokens, width) in T
    std::array<std::int64_t, 4> width{};
    std::array<DeviceBuffer<float>, 7> w;            // float32 weights, scaled as the groups fold
    std::array<std::int64_t, 7> n{}, k{};
    typename Model::Layer work;                      // the layer the modules run with (its weights in T)
  };

  static std::int64_t group(std::int64_t k) { return Scheme::group_size == kPerChannel ? k : Scheme::group_size; }

  static void copy(const DeviceBuffer<float>& from, DeviceBuffer<float>& to) {
    if (to.size() < from.size()) to = DeviceBuffer<float>(from.size());
    throw_if_failed(cudaMemcpy(to.get(), from.get(), from.bytes(), cudaMemcpyDeviceToDevice), "copying activations");
  }

  void note_peak() { peak_ = std::max(peak_, device_bytes_in_use()); }

  /// Linear `slot` of layer `li` replaced by its packed weight, which layer_state returns.
  void install(std::size_t li, int slot, PackedArrays p) {
    model_.set_packed(li, slot, p);
    if (packed_layer_ != li) packed_ = {};
    packed_layer_ = li;
    packed_[static_cast<std::size_t>(slot)] = std::move(p);
  }

  /// The module AWQ inspects for a group's input over every sample, (tokens, H) in T: attention, o_proj, MLP,
  /// down_proj, computed with the working weights.
  void run_module(LinearInput at, DeviceBuffer<T>& out) {
    const std::int64_t h = model_.hidden_size();
    if (out.size() == 0) out = DeviceBuffer<T>(static_cast<std::size_t>(tokens_ * h));
    std::int64_t offset = 0;
    for (std::size_t s = 0; s < xs_.size(); ++s) {
      const T* x = awq_.in[static_cast<std::size_t>(at)][s].get();
      T* y = out.get() + offset * h;
      switch (at) {
        case LinearInput::kAttention: model_.attention(awq_.work, x, lens_[s], y); break;
        case LinearInput::kAttentionOutput: model_.linear(awq_.work.lin[3], x, lens_[s], y); break;
        case LinearInput::kMlp: model_.mlp(awq_.work, x, lens_[s], y); break;
        case LinearInput::kMlpDown: model_.linear(awq_.work.lin[6], x, lens_[s], y); break;
      }
      offset += lens_[s];
    }
  }

  Model model_;
  LayerwiseRequest r_;
  std::shared_ptr<cublasContext> cublas_;
  std::vector<DeviceBuffer<float>> xs_, fp_out_;  // the streams, and kept full-precision outputs
  std::vector<std::int64_t> lens_;
  std::int64_t tokens_ = 0;
  DeviceBuffer<float> y_;  // a sample's working copy, reused (thousands of layer forwards)
  AwqWork awq_;
  std::array<PackedArrays, 7> packed_;  // the packed weights of layer packed_layer_
  std::size_t packed_layer_ = static_cast<std::size_t>(-1);
  std::size_t peak_ = 0;
};
static_assert(LayerBackend<GpuLayers<__nv_bfloat16, W4G128Sym>>);

}  // namespace ptq::cuda
