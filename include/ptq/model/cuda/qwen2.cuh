/// @file The Qwen2 forward pass on the GPU in fp16 or bf16, instantiated from the quantization scheme of its packed
/// linears: cuBLAS (float32 accumulation) for dense products, gemv_wa16 / gemm_wa16 for packed ones, and ptq's
/// kernels for RMSNorm, bias + RoPE, fused causal attention, SwiGLU and the fused target log-probability.
/// The residual stream is float32; every other activation is stored in T (as Hugging Face's bf16 model does).
/// The CPU reference is Qwen2Model (model/qwen2.hpp); the weights come as a ModelImage (model/image_of.hpp).
///
///   ptq::Qwen2Model cpu = ptq::Qwen2Model::load(dir);                 // a .cpp file (C++ compiler)
///   ptq::ModelImage img = ptq::image_of(cpu);
///   ptq::cuda::Qwen2Gpu<__nv_bfloat16, ptq::W4G128Sym> gpu(img);     // a .cu file
///   std::vector<ptq::TokenScore> s = gpu.score(batch);                // a ScoreBatch, as the CPU model takes
/// score(ScoreBatch) runs packed passes like the CPU model (several sequences, a prefix with its continuations:
/// kernels/score_batch.hpp) and sends only the scored rows through lm_head. Packed products as `Kernels` says
/// (kernels/cuda/model_kernels.cuh): the GEMV up to its tile's rows, the tensor-core GEMM up to Kernels::dequant_rows
/// rows, above that the weight is dequantized into a scratch buffer and multiplied by cuBLAS (at prefill sizes the
/// product is compute-bound and cuBLAS is the fastest tensor-core GEMM we have).
/// Layer by layer (GPU calibration, pipeline/cuda/layers.cuh): embed, forward_layer with an observer of the linear
/// inputs, dense_weight of a linear, set_packed to replace it.
#pragma once

#include "ptq/kernels/cuda/attention.cuh"
#include "ptq/kernels/cuda/cublas.cuh"
#include "ptq/kernels/cuda/elementwise.cuh"
#include "ptq/kernels/cuda/gemm_wa16.cuh"
#include "ptq/kernels/cuda/gemv_wa16.cuh"
#include "ptq/kernels/cuda/logprob.cuh"
#include "ptq/kernels/cuda/model_kernels.cuh"
#include "ptq/kernels/score_batch.hpp"
#include "ptq/model/image.hpp"
#include "ptq/model/layer_slots.hpp"
#include "ptq/quant/packed_arrays.hpp"

#include <array>
#include <functional>
#include <memory>
#include <span>

namespace ptq::cuda {

/// A linear layer on the device: dense T (n, k), or packed in the model's scheme; optional float bias.
template <Half16 T>
struct GpuLinear {
  std::int64_t n = 0, k = 0;
  DeviceBuffer<T> dense;
  DeviceBuffer<std::uint32_t> qweight, qzeros;
  DeviceBuffer<std::uint16_t> scales;
  DeviceBuffer<std::int32_t> g_idx;
  DeviceBuffer<float> bias;
  PackedView view;  // valid when packed
  bool packed = false;
  [[nodiscard]] std::size_t bytes() const {
    return dense.bytes() + qweight.bytes() + qzeros.bytes() + scales.bytes() + g_idx.bytes() + bias.bytes();
  }
};

template <Half16 T, QuantSchemeLike Scheme, class Kernels = DefaultModelKernels>
class Qwen2Gpu {
  using GemvCfg = typename Kernels::template Gemv<Scheme>;
  using GemmCfg = typename Kernels::template Gemm<Scheme>;

 public:
  using value_type = T;
  using scheme_type = Scheme;

  explicit Qwen2Gpu(const ModelImage& img) : img_(shape_of(img)), cublas_(make_cublas()) {
    embed_ = upload_dense(img.embed_tokens, "model.embed_tokens.weight");
    tied_ = img.lm_head.data == img.embed_tokens.data;
    if (!tied_) lm_head_ = upload_dense(img.lm_head, "lm_head.weight");
    norm_ = upload_floats(img.norm, img.hidden_size);
    for (const LayerImage& l : img.layers) {
      Layer d;
      d.input_norm = upload_floats(l.input_layernorm, img.hidden_size);
      d.post_norm = upload_floats(l.post_attention_layernorm, img.hidden_size);
      constexpr auto members = linear_members<LayerImage>();
      for (std::size_t i = 0; i < d.lin.size(); ++i) d.lin[i] = upload_linear(l.*members[i]);
      layers_.push_back(std::move(d));
    }
    throw_if_failed(cudaDeviceSynchronize(), "uploading the model");
  }

  /// Device bytes of the weights (embedding, lm_head unless tied, linears, norms, biases).
  [[nodiscard]] std::size_t weight_bytes() const {
    std::size_t b = embed_.bytes() + lm_head_.bytes() + norm_.bytes();
    for (const Layer& l : layers_) {
      b += l.input_norm.bytes() + l.post_norm.bytes();
      for (const GpuLinear<T>& lin : l.lin) b += lin.bytes();
    }
    return b;
  }

  /// The most device memory in use (all processes) seen at the end of a score call, in bytes.
  [[nodiscard]] std::size_t peak_device_bytes() const { return peak_bytes_; }

  /// Final-norm hidden states (T, H) as float32, for one sequence.
  [[nodiscard]] std::vector<float> hidden_states(std::span<const std::int32_t> ids) {
    const auto t_len = static_cast<std::int64_t>(ids.size());
    DeviceBuffer<float> x = embed(ids);
    for (const Layer& l : layers_) block(l, x.get(), t_len, workspace(t_len), nullptr, {});
    DeviceBuffer<T> normed(static_cast<std::size_t>(t_len * img_.hidden_size));
    rms_norm(x.get(), t_len, norm_, normed.get());
    std::vector<float> out(normed.size());
    const std::vector<T> h = normed.download();
    for (std::size_t i = 0; i < h.size(); ++i) out[i] = to_f32(h[i]);
    return out;
  }

  /// log p(targets[t] | ids[0..t]) and greedy flags for t < T of one sequence.
  [[nodiscard]] std::vector<TokenScore> score(std::span<const std::int32_t> ids, std::span<const std::int32_t> targets) {
    if (targets.size() != ids.size()) throw std::runtime_error("ptq cuda: score: targets and ids differ in length");
    return score(ScoreBatch::sequence({ids.begin(), ids.end()}, {targets.begin(), targets.end()}));
  }

  /// The scored rows of a packed forward pass (kernels/score_batch.hpp): logits in float32, `chunk` rows at a time.
  [[nodiscard]] std::vector<TokenScore> score(const ScoreBatch& b) {
    const auto t_len = static_cast<std::int64_t>(b.ids.size()), r_len = static_cast<std::int64_t>(b.rows.size());
    const std::int64_t v = img_.vocab_size, h = img_.hidden_size;
    const std::vector<std::int32_t> start = segment_starts(b);
    for (std::size_t r = 0; r < b.rows.size(); ++r)
      if (b.rows[r] < 0 || b.rows[r] >= t_len || b.targets[r] < 0 || b.targets[r] >= v)
        throw std::runtime_error("ptq cuda: score: a row outside the batch or a target outside the vocabulary");
    const DeviceBuffer<std::int32_t> positions(b.positions), starts(start), branch(b.layout.branch), rows(b.rows),
        targets(b.targets);
    DeviceBuffer<float> x = embed(b.ids);
    for (const Layer& l : layers_) block(l, x.get(), t_len, workspace(t_len), nullptr, {positions.get(), {starts.get(), branch.get()}});
    DeviceBuffer<T> normed(static_cast<std::size_t>(t_len * h)), picked(static_cast<std::size_t>(std::max<std::int64_t>(r_len, 1) * h));
    rms_norm(x.get(), t_len, norm_, normed.get());
    throw_if_failed(gather_rows(normed.get(), h, rows.get(), r_len, picked.get()), "gathering scored rows");
    const std::int64_t chunk = std::max<std::int64_t>(1, std::min<std::int64_t>(r_len, (256 << 20) / (v * 4)));
    DeviceBuffer<float> logits(static_cast<std::size_t>(chunk * v));
    DeviceBuffer<TokenLogprob> out(static_cast<std::size_t>(std::max<std::int64_t>(r_len, 1)));
    const T* head = tied_ ? embed_.get() : lm_head_.get();
    for (std::int64_t r0 = 0; r0 < r_len; r0 += chunk) {
      const std::int64_t n = std::min(chunk, r_len - r0);
      gemm(cublas_.get(), false, true, n, v, h, 1.0f, picked.get() + r0 * h, h, head, h, 0.0f, logits.get(), v, "lm_head");
      throw_if_failed(target_logprobs(logits.get(), n, v, targets.get() + r0, out.get() + r0), "target_logprobs");
    }
    const std::vector<TokenLogprob> dev = out.download();
    peak_bytes_ = std::max(peak_bytes_, device_bytes_in_use());  // this pass's buffers are still allocated
    std::vector<TokenScore> scores(b.rows.size());
    for (std::size_t r = 0; r < scores.size(); ++r) scores[r] = {dev[r].logprob, dev[r].greedy != 0};
    return scores;
  }

  /// Where the tokens of a forward pass sit: RoPE positions and the attention layout on the device (null: one
  /// sequence, positions 0..T-1).
  struct Packing {
    const std::int32_t* positions = nullptr;
    DeviceLayout layout;
  };

  /// Sees each linear input of a layer forward: (which, x (m, in_features) in T on the device, m).
  using Observer = std::function<void(LinearInput, const T*, std::int64_t)>;

  /// A decoder layer's weights on the device.
  struct Layer {
    DeviceBuffer<float> input_norm, post_norm;  // (H)
    std::array<GpuLinear<T>, 7> lin;            // q, k, v, o, gate, up, down (kLinearNames)
  };
  [[nodiscard]] Layer& layer(std::size_t i) { return layers_.at(i); }
  [[nodiscard]] const Layer& layer(std::size_t i) const { return layers_.at(i); }

  /// A dense linear from float32 weights (n, k) on the device (stored in T) and a float32 bias (n) or null.
  [[nodiscard]] static GpuLinear<T> dense_linear(const float* w, std::int64_t n, std::int64_t k, const float* bias) {
    GpuLinear<T> d;
    d.n = n;
    d.k = k;
    d.dense = DeviceBuffer<T>(static_cast<std::size_t>(n * k));
    throw_if_failed(narrow(w, n * k, d.dense.get()), "dense_linear");
    if (bias) {
      d.bias = DeviceBuffer<float>(static_cast<std::size_t>(n));
      throw_if_failed(cudaMemcpy(d.bias.get(), bias, d.bias.bytes(), cudaMemcpyDeviceToDevice), "copying a bias");
    }
    throw_if_failed(cudaGetLastError(), "dense_linear");
    return d;
  }

  /// y (m, n) = x (m, k) · W^T + b.
  void linear(const GpuLinear<T>& l, const T* x, std::int64_t m, T* y) {
    apply(l, x, m, y);
    add_linear_bias(l, y, m);
  }

  /// Self-attention of one sequence with layer l's q/k/v/o: normed input (T, H) -> o_proj output (T, H), no residual.
  void attention(const Layer& l, const T* normed, std::int64_t t_len, T* out, const Observer* observer = nullptr,
                 const Packing& pack = {}) {
    Workspace& ws = workspace(t_len);
    const std::int64_t d = img_.head_dim;
    const auto theta = static_cast<float>(img_.rope_theta);
    const auto& [q, k, v, o, gate, up, down] = l.lin;
    apply(q, normed, t_len, ws.q.get());
    apply(k, normed, t_len, ws.k.get());
    apply(v, normed, t_len, ws.v.get());
    throw_if_failed(bias_rope(ws.q.get(), t_len, static_cast<int>(img_.heads), static_cast<int>(d),
                              q.bias.size() ? q.bias.get() : nullptr, theta, pack.positions),
                    "q rope");
    throw_if_failed(bias_rope(ws.k.get(), t_len, static_cast<int>(img_.kv_heads), static_cast<int>(d),
                              k.bias.size() ? k.bias.get() : nullptr, theta, pack.positions),
                    "k rope");
    add_linear_bias(v, ws.v.get(), t_len);
    throw_if_failed(causal_attention(ws.q.get(), ws.k.get(), ws.v.get(), ws.attn.get(), t_len, static_cast<int>(img_.heads),
                                     static_cast<int>(img_.kv_heads), static_cast<int>(d), pack.layout),
                    "attention");
    if (observer) (*observer)(LinearInput::kAttentionOutput, ws.attn.get(), t_len);
    linear(o, ws.attn.get(), t_len, out);
  }

  /// SwiGLU MLP of layer l: normed input (T, H) -> down_proj output (T, H), no residual.
  void mlp(const Layer& l, const T* normed, std::int64_t t_len, T* out, const Observer* observer = nullptr) {
    Workspace& ws = workspace(t_len);
    const std::int64_t inter = img_.intermediate_size;
    linear(l.lin[4], normed, t_len, ws.gate.get());
    linear(l.lin[5], normed, t_len, ws.up.get());
    throw_if_failed(swiglu(ws.gate.get(), ws.up.get(), t_len * inter), "swiglu");
    if (observer) (*observer)(LinearInput::kMlpDown, ws.gate.get(), t_len);
    linear(l.lin[6], ws.gate.get(), t_len, out);
  }

  [[nodiscard]] std::size_t num_layers() const { return layers_.size(); }
  [[nodiscard]] std::int64_t hidden_size() const { return img_.hidden_size; }

  /// Token embeddings (T, H) float32 on the device: the input of layer 0.
  [[nodiscard]] DeviceBuffer<float> embed(std::span<const std::int32_t> ids) {
    if (ids.empty()) throw std::runtime_error("ptq cuda: empty sequence");
    for (std::int32_t id : ids)
      if (id < 0 || id >= img_.vocab_size) throw std::runtime_error("ptq cuda: token id outside the vocabulary");
    const DeviceBuffer<std::int32_t> dev_ids(ids.data(), ids.size());
    DeviceBuffer<float> x(ids.size() * static_cast<std::size_t>(img_.hidden_size));
    throw_if_failed(cuda::embed(dev_ids.get(), static_cast<std::int64_t>(ids.size()), embed_.get(), img_.hidden_size, x.get()),
                    "embedding");
    throw_if_failed(cudaDeviceSynchronize(), "embedding");  // dev_ids is freed on return
    return x;
  }

  /// Decoder layer `layer` in place on one sequence's residual stream x (T, H) float32 on the device.
  void forward_layer(std::size_t layer, float* x, std::int64_t t_len, const Observer* observer = nullptr) {
    block(layers_.at(layer), x, t_len, workspace(t_len), observer, {});
  }

  /// The dense weight of linear `slot` (kLinearNames order) of `layer` as float32 (n, k) on the device.
  [[nodiscard]] DeviceBuffer<float> dense_weight(std::size_t layer, int slot) const {
    const GpuLinear<T>& l = layers_.at(layer).lin.at(static_cast<std::size_t>(slot));
    if (l.packed) throw std::runtime_error("ptq cuda: dense_weight of a packed linear");
    DeviceBuffer<float> out(l.dense.size());
    throw_if_failed(widen(l.dense.get(), static_cast<std::int64_t>(out.size()), out.get()), "dense_weight");
    return out;
  }
  [[nodiscard]] std::int64_t out_features(std::size_t layer, int slot) const { return layers_.at(layer).lin.at(slot).n; }
  [[nodiscard]] std::int64_t in_features(std::size_t layer, int slot) const { return layers_.at(layer).lin.at(slot).k; }

  /// Replaces linear `slot` of `layer` by a packed weight in this model's scheme (the dense copy is freed).
  void set_packed(std::size_t layer, int slot, const PackedArrays& p) {
    GpuLinear<T>& l = layers_.at(layer).lin.at(static_cast<std::size_t>(slot));
    LinearImage img{"model.layers." + std::to_string(layer) + "." + kLinearNames.at(slot), {}, p.view(), nullptr};
    GpuLinear<T> packed = upload_linear(img);
    packed.bias = std::move(l.bias);
    l = std::move(packed);
  }

 private:
  /// Activations of one forward pass (up to `tokens` tokens), in T; kept between calls (calibration runs thousands
  /// of layer forwards of the same length) and grown when a longer sequence comes.
  struct Workspace {
    std::int64_t tokens = 0;
    DeviceBuffer<T> normed, delta, q, k, v, attn, gate, up;
    Workspace() = default;
    Workspace(const ModelImage& c, std::int64_t t_len)
        : tokens(t_len), normed(static_cast<std::size_t>(t_len * c.hidden_size)), delta(normed.size()),
          q(static_cast<std::size_t>(t_len * c.heads * c.head_dim)), k(static_cast<std::size_t>(t_len * c.kv_heads * c.head_dim)),
          v(k.size()), attn(q.size()), gate(static_cast<std::size_t>(t_len * c.intermediate_size)), up(gate.size()) {}
  };

  /// Per token, the first token of its segment; throws unless the batch's arrays agree.
  static std::vector<std::int32_t> segment_starts(const ScoreBatch& b) {
    const auto t_len = static_cast<std::int64_t>(b.ids.size());
    const std::vector<std::int32_t>& seg = b.layout.segment_begin;
    if (t_len == 0 || b.positions.size() != b.ids.size() || b.layout.branch.size() != b.ids.size() || seg.size() < 2 ||
        seg.front() != 0 || seg.back() != t_len || b.rows.size() != b.targets.size())
      throw std::runtime_error("ptq cuda: score: positions, layout, rows or targets do not match the batch's tokens");
    std::vector<std::int32_t> start(b.ids.size());
    for (std::size_t s = 0; s + 1 < seg.size(); ++s) {
      if (seg[s + 1] < seg[s]) throw std::runtime_error("ptq cuda: score: segment offsets decrease");
      for (std::int32_t t = seg[s]; t < seg[s + 1]; ++t) start[static_cast<std::size_t>(t)] = seg[s];
    }
    return start;
  }

  static ModelImage shape_of(const ModelImage& img) {
    if (img.head_dim % 32 != 0 || img.head_dim > kMaxHeadDim || img.kv_heads < 1 || img.heads % img.kv_heads != 0)
      throw std::runtime_error("ptq cuda: unsupported attention shape (head_dim " + std::to_string(img.head_dim) +
                               ": a multiple of 32 up to " + std::to_string(kMaxHeadDim) + ")");
    ModelImage s = img;
    s.layers.clear();  // shapes only: the tensors are uploaded
    return s;
  }

  DeviceBuffer<T> upload_dense(const RawTensor& t, const std::string& name) {
    const std::size_t count = static_cast<std::size_t>(t.rows * t.cols);
    const std::size_t esize = t.dtype == RawDtype::kF32 ? 4 : 2;
    const DeviceBuffer<unsigned char> raw(static_cast<const unsigned char*>(t.data), count * esize);
    DeviceBuffer<T> out(count);
    throw_if_failed(convert(raw.get(), static_cast<int>(t.dtype), static_cast<std::int64_t>(count), out.get()),
                    "converting " + name);
    throw_if_failed(cudaDeviceSynchronize(), "converting " + name);  // `raw` is freed on return
    return out;
  }

  static DeviceBuffer<float> upload_floats(const float* p, std::int64_t n) {
    return p ? DeviceBuffer<float>(p, static_cast<std::size_t>(n)) : DeviceBuffer<float>();
  }

  GpuLinear<T> upload_linear(const LinearImage& l) {
    GpuLinear<T> d;
    d.n = l.out_features();
    d.k = l.in_features();
    d.bias = upload_floats(l.bias, d.n);
    if (!l.is_packed()) {
      d.dense = upload_dense(l.dense, l.name);
      return d;
    }
    const PackedView& p = l.packed;
    d.packed = true;
    PackedView view{p};
    if (!scheme_matches<Scheme>(view) || p.k % GemmCfg::TileShape::K != 0)
      throw std::runtime_error("ptq cuda: " + l.name + ": packed as " + std::to_string(p.bits) + "-bit, group " +
                               std::to_string(p.group) + ", in_features " + std::to_string(p.k) +
                               ": not this model's scheme (" + std::to_string(Scheme::bits) + "-bit, group " +
                               std::to_string(Scheme::group_size) + ", in_features a multiple of " +
                               std::to_string(GemmCfg::TileShape::K) + ")");
    d.qweight = DeviceBuffer<std::uint32_t>(p.qweight, static_cast<std::size_t>(p.n * view.words_per_row()));
    d.scales = DeviceBuffer<std::uint16_t>(p.scales, static_cast<std::size_t>(p.n * view.groups()));
    d.qzeros = DeviceBuffer<std::uint32_t>(p.qzeros, static_cast<std::size_t>(p.n * view.zero_words_per_row()));
    if (p.g_idx) d.g_idx = DeviceBuffer<std::int32_t>(p.g_idx, static_cast<std::size_t>(p.k));
    view.qweight = d.qweight.get();
    view.scales = d.scales.get();
    view.qzeros = d.qzeros.get();
    view.g_idx = p.g_idx ? d.g_idx.get() : nullptr;
    d.view = view;
    return d;
  }

  /// y (m, n) = x (m, k) · W^T (no bias).
  void apply(const GpuLinear<T>& l, const T* x, std::int64_t m, T* y) {
    const T* dense = l.dense.get();
    if (l.packed) {
      if (m <= Kernels::dequant_rows) {
        const cudaError_t e = m <= GemvCfg::TileShape::M ? gemv_wa16<GemvCfg>(x, static_cast<int>(m), l.view, y)
                                                         : gemm_wa16<GemmCfg>(x, static_cast<int>(m), l.view, y);
        throw_if_failed(e, "quantized product");
        return;
      }
      if (scratch_.size() < static_cast<std::size_t>(l.n * l.k)) scratch_ = DeviceBuffer<T>(static_cast<std::size_t>(l.n * l.k));
      throw_if_failed(dequantize_wa16<Scheme>(l.view, scratch_.get()), "dequantize");
      dense = scratch_.get();
    }
    gemm(cublas_.get(), false, true, m, l.n, l.k, 1.0f, x, l.k, dense, l.k, 0.0f, y, l.n, "dense product");
  }

  void add_linear_bias(const GpuLinear<T>& l, T* y, std::int64_t m) {
    if (l.bias.size() != 0) throw_if_failed(add_bias(y, m, l.n, l.bias.get()), "bias");
  }

  void rms_norm(const float* x, std::int64_t t_len, const DeviceBuffer<float>& w, T* out) {
    throw_if_failed(cuda::rms_norm(x, t_len, img_.hidden_size, w.get(), static_cast<float>(img_.rms_norm_eps), out),
                    "rms_norm");
  }

  /// One decoder block in place on x (T, H) float32.
  void block(const Layer& l, float* x, std::int64_t t_len, Workspace& ws, const Observer* observer, const Packing& pack) {
    const std::int64_t h = img_.hidden_size;
    rms_norm(x, t_len, l.input_norm, ws.normed.get());
    if (observer) (*observer)(LinearInput::kAttention, ws.normed.get(), t_len);
    attention(l, ws.normed.get(), t_len, ws.delta.get(), observer, pack);
    throw_if_failed(residual_add(x, ws.delta.get(), t_len * h), "residual");
    rms_norm(x, t_len, l.post_norm, ws.normed.get());
    if (observer) (*observer)(LinearInput::kMlp, ws.normed.get(), t_len);
    mlp(l, ws.normed.get(), t_len, ws.delta.get(), observer);
    throw_if_failed(residual_add(x, ws.delta.get(), t_len * h), "residual");
    throw_if_failed(cudaGetLastError(), "decoder layer");
  }

  Workspace& workspace(std::int64_t t_len) {
    if (ws_.tokens < t_len) {
      ws_ = Workspace();  // free first: the old and new buffers need not fit together
      ws_ = Workspace(img_, t_len);
    }
    return ws_;
  }

  ModelImage img_;  // shapes
  std::shared_ptr<cublasContext> cublas_;
  DeviceBuffer<T> embed_, lm_head_;
  bool tied_ = false;
  DeviceBuffer<float> norm_;
  std::vector<Layer> layers_;
  DeviceBuffer<T> scratch_;  // the largest packed linear dequantized (products above Kernels::dequant_rows rows)
  Workspace ws_;
  std::size_t peak_bytes_ = 0;
};

}  // namespace ptq::cuda
