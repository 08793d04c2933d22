/// @file AWQ of a whole model on the GPU, layer by layer, the CPU pipeline's awq_layer (pipeline/quantize.hpp) step
/// for step: capture the inputs of the four linear groups from the full-precision layer; for each group (q/k/v after
/// the input RMSNorm, o after v when their shapes allow, gate/up after the post-attention RMSNorm, down after up)
/// search the scale ratio on the original weights (quant/cuda/awq.cuh); fold the best scales into the preceding op;
/// clip every linear but q/k; quantize; the next layer sees the full-precision outputs (feed_quantized = false,
/// AutoAWQ's default).
///
///   ptq::cuda::Qwen2Gpu<__nv_bfloat16, ptq::W4G128Asym> model(image);
///   ptq::cuda::GpuQuantReport r = ptq::cuda::awq_model(model, calibration, ptq::AwqParams{});
#pragma once

#include "ptq/pipeline/cuda/quantize.cuh"
#include "ptq/quant/cuda/awq.cuh"

namespace ptq::cuda {

/// Quantizes every linear of `model` (a Qwen2Gpu) in place with AWQ. `progress(layer)` after each layer.
template <class Model>
GpuQuantReport awq_model(Model& model, const std::vector<std::vector<std::int32_t>>& calibration, const AwqParams& prm,
                         bool feed_quantized = false, const std::function<void(std::size_t)>& progress = {}) {
  using Scheme = typename Model::scheme_type;
  using T = typename Model::value_type;
  using namespace detail;
  const auto t0 = std::chrono::steady_clock::now();
  const auto cublas = make_cublas();
  GpuQuantReport rep;
  const std::int64_t h = model.hidden_size();
  std::vector<DeviceBuffer<float>> xs;
  std::vector<std::int64_t> lens;
  for (const auto& ids : calibration) {
    xs.push_back(model.embed(ids));
    lens.push_back(static_cast<std::int64_t>(ids.size()));
  }
  std::int64_t tokens = 0;
  for (std::int64_t t : lens) tokens += t;
  for (std::size_t li = 0; li < model.num_layers(); ++li) {
    // 1. The four groups' inputs (in T) and the full-precision outputs.
    std::array<std::vector<DeviceBuffer<T>>, 4> in;
    std::array<std::int64_t, 4> width{};
    std::vector<DeviceBuffer<float>> fp_out;
    for (std::size_t s = 0; s < xs.size(); ++s) {
      fp_out.emplace_back(xs[s].size());
      throw_if_failed(cudaMemcpy(fp_out[s].get(), xs[s].get(), xs[s].bytes(), cudaMemcpyDeviceToDevice), "awq");
      const typename Model::Observer keep = [&](LinearInput at, const T* x, std::int64_t m) {
        const auto i = static_cast<std::size_t>(at);
        width[i] = model.in_features(li, kLinearGroups[i].members().front());
        in[i].emplace_back(static_cast<std::size_t>(m * width[i]));
        throw_if_failed(cudaMemcpy(in[i].back().get(), x, in[i].back().bytes(), cudaMemcpyDeviceToDevice), "awq");
      };
      model.forward_layer(li, fp_out[s].get(), lens[s], &keep);
    }
    // 2. Float32 working copies and the layer the modules run with.
    std::array<DeviceBuffer<float>, 7> w;
    std::array<std::int64_t, 7> wn{}, wk{};
    typename Model::Layer& layer = model.layer(li);
    typename Model::Layer work;
    for (int i = 0; i < 7; ++i) {
      w[i] = model.dense_weight(li, i);
      wn[i] = model.out_features(li, i);
      wk[i] = model.in_features(li, i);
      work.lin[i] = Model::dense_linear(w[i].get(), wn[i], wk[i], layer.lin[i].bias.size() ? layer.lin[i].bias.get() : nullptr);
    }
    auto run = [&](LinearInput at, DeviceBuffer<T>& out) {  // the inspected module over every sample, (tokens, H)
      if (out.size() == 0) out = DeviceBuffer<T>(static_cast<std::size_t>(tokens * h));
      std::int64_t offset = 0;
      for (std::size_t s = 0; s < xs.size(); ++s) {
        const T* x = in[static_cast<std::size_t>(at)][s].get();
        T* y = out.get() + offset * h;
        switch (at) {
          case LinearInput::kAttention: model.attention(work, x, lens[s], y); break;
          case LinearInput::kAttentionOutput: model.linear(work.lin[3], x, lens[s], y); break;
          case LinearInput::kMlp: model.mlp(work, x, lens[s], y); break;
          case LinearInput::kMlpDown: model.linear(work.lin[6], x, lens[s], y); break;
        }
        offset += lens[s];
      }
    };
    std::vector<LinearGroup> groups;
    for (const LinearGroup& g : kLinearGroups)
      if (awq_scales_group(g, wn[2], wk[2], wn[3], wk[3])) groups.push_back(g);
    // 3. The scale search of each group, on the original weights.
    std::vector<DeviceBuffer<float>> best_scales;
    std::vector<std::pair<float, double>> best_of;  // (ratio, loss)
    for (const LinearGroup& g : groups) {
      const std::int64_t k = wk[g.members().front()];
      const std::int64_t gs = Scheme::group_size == kPerChannel ? k : Scheme::group_size;
      std::vector<const DeviceBuffer<float>*> mw;
      std::vector<std::int64_t> mn;
      for (const int m : g.members()) { mw.push_back(&w[m]); mn.push_back(wn[m]); }
      const std::vector<float> xm = x_mean(in[static_cast<std::size_t>(g.input)], k), wm = w_mean(mw, mn, k, gs);
      DeviceBuffer<T> reference, out;
      run(g.input, reference);
      double best_loss = std::numeric_limits<double>::infinity();
      float best_ratio = 0;
      DeviceBuffer<float> best(static_cast<std::size_t>(k)), s(static_cast<std::size_t>(k));
      for (int i = 0; i < prm.n_grid; ++i) {
        const float r = static_cast<float>(i) / static_cast<float>(prm.n_grid);
        const std::vector<float> cand = awq_candidate_scales(xm, wm, r, prm.duo_scaling);
        throw_if_failed(cudaMemcpy(s.get(), cand.data(), s.bytes(), cudaMemcpyHostToDevice), "awq scales");
        for (const int m : g.members())
          throw_if_failed(scaled_fake_quantize<Scheme>(w[m].get(), wn[m], k, gs, s.get(), work.lin[m].dense.get()),
                          "awq scale search");
        run(g.input, out);
        const double loss = squared_difference(reference.get(), out.get(), tokens * h) / static_cast<double>(tokens * h);
        if (loss < best_loss) {
          best_loss = loss;
          best_ratio = r;
          throw_if_failed(cudaMemcpy(best.get(), s.get(), s.bytes(), cudaMemcpyDeviceToDevice), "awq scales");
        }
        for (const int m : g.members())  // restore the module's weights
          throw_if_failed(narrow(w[m].get(), wn[m] * k, work.lin[m].dense.get()), "awq scale search");
      }
      if (!(best_loss < std::numeric_limits<double>::infinity()))
        throw std::runtime_error("ptq cuda awq: layer " + std::to_string(li) + ": the scale search loss is not finite");
      best_scales.push_back(std::move(best));
      best_of.emplace_back(best_ratio, best_loss);
    }
    // 4. Fold: the preceding op's output channels / s, the group's input columns · s, the captured inputs / s.
    std::array<std::pair<float, double>, 7> found{};  // per linear: its group's (ratio, loss); o without a group: 0
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      const LinearGroup& g = groups[gi];
      const float* s = best_scales[gi].get();
      const std::int64_t k = wk[g.members().front()];
      if (g.producer < 0) {
        DeviceBuffer<float>& norm = g.input == LinearInput::kAttention ? layer.input_norm : layer.post_norm;
        throw_if_failed(divide(norm.get(), k, s), "awq fold");
      } else {
        const auto p = static_cast<std::size_t>(g.producer);
        throw_if_failed(divide_rows(w[p].get(), wn[p], wk[p], s), "awq fold");
        if (layer.lin[p].bias.size()) throw_if_failed(divide(layer.lin[p].bias.get(), wn[p], s), "awq fold");
      }
      for (const int m : g.members()) {
        throw_if_failed(scale_columns(w[m].get(), wn[m], k, s), "awq fold");
        found[static_cast<std::size_t>(m)] = best_of[gi];
      }
      for (auto& x : in[static_cast<std::size_t>(g.input)])
        throw_if_failed(divide_columns(x.get(), static_cast<std::int64_t>(x.size()) / k, k, s), "awq fold");
    }
    // 5. Clip (not q/k: the attention softmax amplifies their errors), quantize, install.
    for (int i = 0; i < 7; ++i) {
      const auto at = static_cast<std::size_t>(linear_input(i));
      if (prm.clip && i >= 2) {
        std::int64_t t_len = 0;
        const DeviceBuffer<T> sample = sample_rows(in[at], wk[i], prm.clip_tokens, &t_len);
        clip<Scheme, T>(w[i].get(), wn[i], wk[i], sample, t_len, prm, cublas.get());
      }
      const std::int64_t gs = Scheme::group_size == kPerChannel ? wk[i] : Scheme::group_size;
      const std::int64_t ng = (wk[i] + gs - 1) / gs;
      DeviceBuffer<std::uint8_t> codes(static_cast<std::size_t>(wn[i] * wk[i]));
      DeviceBuffer<GroupParams> grid(static_cast<std::size_t>(ng * wn[i]));
      throw_if_failed(awq_rtn<Scheme>(w[i].get(), wn[i], wk[i], gs, codes.get(), grid.get()), "awq rtn");
      PackedArrays packed = pack_arrays<Scheme>(codes.get(), grid.get(), wn[i], wk[i]);
      model.set_packed(li, i, packed);
      rep.peak_device_bytes = std::max(rep.peak_device_bytes, device_bytes_in_use());
      rep.names.push_back("model.layers." + std::to_string(li) + "." + kLinearNames[static_cast<std::size_t>(i)]);
      rep.damp.push_back(found[static_cast<std::size_t>(i)].first);
      rep.loss.push_back(found[static_cast<std::size_t>(i)].second);
      rep.weights.push_back(std::move(packed));
    }
    // 6. The next layer's inputs.
    if (feed_quantized) {
      for (std::size_t s = 0; s < xs.size(); ++s) model.forward_layer(li, xs[s].get(), lens[s]);
    } else {
      xs = std::move(fp_out);
    }
    if (progress) progress(li);
  }
  throw_if_failed(cudaDeviceSynchronize(), "awq_model");
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace ptq::cuda
