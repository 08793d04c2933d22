/// @file AWQ of a whole model on the GPU, layer by layer, the algorithm of quant/awq.hpp and the CPU pipeline's
/// awq_layer (quant/pipeline.hpp) step for step: capture the inputs of the four linear groups from the
/// full-precision layer; for each group (q/k/v after the input RMSNorm, o after v when their shapes allow, gate/up
/// after the post-attention RMSNorm, down after up) search the 20 scale ratios on the original weights — scale,
/// fake-quantize with AutoAWQ's grid, unscale, run the inspected module (attention, o_proj, MLP, down_proj) over
/// every calibration sample, mean squared error against the full-precision output; fold the best scales into the
/// preceding op; clip every linear but q/k (the batched clip search: all groups of a linear in one strided cuBLAS
/// product per shrink step); quantize; the next layer sees the full-precision outputs (feed_quantized = false,
/// AutoAWQ's default).
/// Differences from the CPU: the captured inputs, module outputs and the weights the modules run with are stored
/// in T (fp16/bf16) rather than float32; sums run in other orders (per-channel means in double, in a fixed order).
///
///   ptq::cuda::Qwen2Gpu<__nv_bfloat16, ptq::W4G128Asym> model(image);
///   ptq::cuda::GpuQuantReport r = ptq::cuda::awq_model(model, calibration, ptq::AwqParams{});
#pragma once

#include "ptq/quant/awq_params.hpp"
#include "ptq/quant/cuda/grid.cuh"
#include "ptq/quant/cuda/pipeline.cuh"

#include <limits>

namespace ptq::cuda {

namespace detail {

/// sum[c] += Σ_t |x[t, c]| for x (rows, k); a thread per channel, rows in order.
template <class T>
__global__ void abs_column_sum_kernel(const T* x, std::int64_t rows, std::int64_t k, double* sum) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= k) return;
  double s = 0;
  for (std::int64_t t = 0; t < rows; ++t) s += fabsf(to_f32(x[t * k + c]));
  sum[c] += s;
}

/// amax (n, groups) = max |w| of each quantization group of w (n, k).
static __global__ void group_absmax_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, float* amax) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, c0 = i % groups * gs, c1 = min(k, c0 + gs);
  float m = 0;
  for (std::int64_t c = c0; c < c1; ++c) m = fmaxf(m, fabsf(w[r * k + c]));
  amax[i] = m;
}

/// sum[c] += Σ_rows |w[r, c]| / (amax[r, group of c] + 1e-6); a thread per channel, rows in order.
static __global__ void w_mean_sum_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs,
                                         const float* amax, double* sum) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= k) return;
  const std::int64_t groups = (k + gs - 1) / gs;
  double s = 0;
  for (std::int64_t r = 0; r < n; ++r) s += __fdiv_rn(fabsf(w[r * k + c]), amax[r * groups + c / gs] + 1e-6f);
  sum[c] += s;
}

/// out (n, k) in T = Q(w · diag s) · diag(s)^-1 with AutoAWQ's grid: a thread per (row, group).
template <class Scheme, class T>
__global__ void scaled_fake_quantize_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs,
                                            const float* s, T* out) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, c0 = i % groups * gs, c1 = min(k, c0 + gs);
  float lo = __fmul_rn(w[r * k + c0], s[c0]), hi = lo;
  for (std::int64_t c = c0 + 1; c < c1; ++c) {
    const float v = __fmul_rn(w[r * k + c], s[c]);
    lo = fminf(lo, v);
    hi = fmaxf(hi, v);
  }
  const float2 p = awq_grid<Scheme>(lo, hi);
  for (std::int64_t c = c0; c < c1; ++c) {
    const float v = __fmul_rn(w[r * k + c], s[c]);
    out[r * k + c] = from_f32<T>(__fdiv_rn(dequantize_code(quantize_code(v, p, Scheme::maxq), p), s[c]));
  }
}

/// partial[block] = Σ (a − b)² over the block's grid-stride slice (fixed order: a deterministic total).
template <class T>
__global__ void squared_difference_kernel(const T* a, const T* b, std::int64_t count, double* partial) {
  __shared__ double part[256];
  double s = 0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double d = static_cast<double>(to_f32(a[i])) - to_f32(b[i]);
    s += d * d;
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = part[0];
}

/// w (n, k): columns (scale_columns) or rows (divide_rows) scaled by s.
static __global__ void scale_columns_kernel(float* w, std::int64_t n, std::int64_t k, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n * k) w[i] = __fmul_rn(w[i], s[i % k]);
}
static __global__ void divide_rows_kernel(float* w, std::int64_t n, std::int64_t k, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n * k) w[i] = __fdiv_rn(w[i], s[i / k]);
}
/// v (n) /= s (n); x (rows, k) in T: columns /= s.
static __global__ void divide_kernel(float* v, std::int64_t n, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) v[i] = __fdiv_rn(v[i], s[i]);
}
template <class T>
__global__ void divide_columns_kernel(T* x, std::int64_t rows, std::int64_t k, const float* s) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < rows * k) x[i] = from_f32<T>(__fdiv_rn(to_f32(x[i]), s[i % k]));
}

/// Group-major copies for the clip search: xg (groups, t, gs) from x (t, k) in T; wg (groups, n, gs) from w (n, k).
template <class T>
__global__ void group_major_kernel(const T* x, std::int64_t rows, std::int64_t k, std::int64_t gs, float* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * k) return;
  const std::int64_t r = i / k, c = i % k;
  out[(c / gs * rows + r) * gs + c % gs] = to_f32(x[i]);
}

/// qg (groups, n, gs) = Q(clamp(wg, ±amax · f)) with AutoAWQ's grid; a thread per (group, row).
template <class Scheme>
__global__ void clipped_fake_quantize_kernel(const float* wg, std::int64_t groups, std::int64_t n, std::int64_t gs,
                                             const float* amax, float f, float* qg) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= groups * n) return;
  const float mv = __fmul_rn(amax[i], f);
  const float* w = wg + i * gs;
  float lo = fminf(fmaxf(w[0], -mv), mv), hi = lo;
  for (std::int64_t c = 1; c < gs; ++c) {
    const float v = fminf(fmaxf(w[c], -mv), mv);
    lo = fminf(lo, v);
    hi = fmaxf(hi, v);
  }
  const float2 p = awq_grid<Scheme>(lo, hi);
  for (std::int64_t c = 0; c < gs; ++c) qg[i * gs + c] = dequantize_code(quantize_code(fminf(fmaxf(w[c], -mv), mv), p, Scheme::maxq), p);
}

/// Per (group, row): err = Σ_t (cur − org)² / t over (groups, t, n) products; keeps the smallest and its max_val.
static __global__ void clip_select_kernel(const float* cur, const float* org, std::int64_t groups, std::int64_t t_len,
                                          std::int64_t n, const float* amax, float f, float* min_err, float* best_max) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= groups * n) return;
  const std::int64_t g = i / n, r = i % n;
  float err = 0;
  for (std::int64_t t = 0; t < t_len; ++t) {
    const float d = cur[(g * t_len + t) * n + r] - org[(g * t_len + t) * n + r];
    err += d * d;
  }
  err /= static_cast<float>(t_len);
  if (err < min_err[i]) {
    min_err[i] = err;
    best_max[i] = __fmul_rn(amax[i], f);
  }
}

/// w (n, k) clamped to ±best_max (groups, n) of its group.
static __global__ void apply_clip_kernel(float* w, std::int64_t n, std::int64_t k, std::int64_t gs, const float* best_max) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * k) return;
  const float mv = best_max[i % k / gs * n + i / k];
  w[i] = fminf(fmaxf(w[i], -mv), mv);
}

/// amax (groups, n) of wg (groups, n, gs).
static __global__ void row_absmax_kernel(const float* wg, std::int64_t count, std::int64_t gs, float* amax) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float m = 0;
  for (std::int64_t c = 0; c < gs; ++c) m = fmaxf(m, fabsf(wg[i * gs + c]));
  amax[i] = m;
}

/// RTN with AutoAWQ's grid: codes (n, k) and grids (groups, n); a thread per (row, group).
template <class Scheme>
__global__ void awq_rtn_kernel(const float* w, std::int64_t n, std::int64_t k, std::int64_t gs, std::uint8_t* codes,
                               float2* grid) {
  const std::int64_t groups = (k + gs - 1) / gs;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * groups) return;
  const std::int64_t r = i / groups, g = i % groups, c0 = g * gs, c1 = min(k, c0 + gs);
  float lo = w[r * k + c0], hi = lo;
  for (std::int64_t c = c0 + 1; c < c1; ++c) {
    lo = fminf(lo, w[r * k + c]);
    hi = fmaxf(hi, w[r * k + c]);
  }
  const float2 p = awq_grid<Scheme>(lo, hi);
  grid[g * n + r] = p;
  for (std::int64_t c = c0; c < c1; ++c) codes[r * k + c] = static_cast<std::uint8_t>(quantize_code(w[r * k + c], p, Scheme::maxq));
}

/// Per-channel mean |x| over the rows of every sample (each (rows, k) in T): AWQ's x_mean.
template <class T>
std::vector<float> x_mean(const std::vector<DeviceBuffer<T>>& xs, std::int64_t k) {
  DeviceBuffer<double> sum(static_cast<std::size_t>(k));
  throw_if_failed(cudaMemset(sum.get(), 0, sum.bytes()), "x_mean");
  std::int64_t rows = 0;
  for (const auto& x : xs) {
    const auto m = static_cast<std::int64_t>(x.size()) / k;
    abs_column_sum_kernel<T><<<blocks_for(k, 256), 256>>>(x.get(), m, k, sum.get());
    rows += m;
  }
  std::vector<float> mean(static_cast<std::size_t>(k));
  const std::vector<double> s = sum.download();
  for (std::int64_t c = 0; c < k; ++c) mean[c] = static_cast<float>(s[c] / static_cast<double>(rows));
  return mean;
}

/// AWQ's w_mean over the rows of every linear of a group (float32 (n, k) each).
inline std::vector<float> w_mean(const std::vector<const DeviceBuffer<float>*>& ws, const std::vector<std::int64_t>& ns,
                                 std::int64_t k, std::int64_t gs) {
  DeviceBuffer<double> sum(static_cast<std::size_t>(k));
  throw_if_failed(cudaMemset(sum.get(), 0, sum.bytes()), "w_mean");
  std::int64_t rows = 0;
  for (std::size_t i = 0; i < ws.size(); ++i) {
    const std::int64_t groups = (k + gs - 1) / gs;
    DeviceBuffer<float> amax(static_cast<std::size_t>(ns[i] * groups));
    group_absmax_kernel<<<blocks_for(ns[i] * groups, 256), 256>>>(ws[i]->get(), ns[i], k, gs, amax.get());
    w_mean_sum_kernel<<<blocks_for(k, 256), 256>>>(ws[i]->get(), ns[i], k, gs, amax.get(), sum.get());
    rows += ns[i];
  }
  std::vector<float> mean(static_cast<std::size_t>(k));
  const std::vector<double> s = sum.download();
  for (std::int64_t c = 0; c < k; ++c) mean[c] = static_cast<float>(s[c] / static_cast<double>(rows));
  return mean;
}

/// Σ (a − b)² over count elements, in a fixed order.
template <class T>
double squared_difference(const T* a, const T* b, std::int64_t count) {
  constexpr int kBlocks = 1024;
  DeviceBuffer<double> partial(kBlocks);
  squared_difference_kernel<T><<<kBlocks, 256>>>(a, b, count, partial.get());
  double total = 0;
  for (double v : partial.download()) total += v;
  return total;
}

/// The clip search for one linear (quant/awq.hpp awq_clip), applied in place to w (n, k): x (t, k) sampled inputs.
template <class Scheme, class T>
void clip(float* w, std::int64_t n, std::int64_t k, const DeviceBuffer<T>& x, std::int64_t t_len, const AwqParams& prm,
          cublasHandle_t cublas) {
  const std::int64_t gs = Scheme::group_size == kPerChannel ? k : Scheme::group_size, groups = (k + gs - 1) / gs;
  if (k % gs != 0) throw std::runtime_error("ptq cuda awq: the clip search needs whole groups");
  DeviceBuffer<float> xg(static_cast<std::size_t>(groups * t_len * gs)), wg(static_cast<std::size_t>(groups * n * gs)),
      qg(wg.size()), org(static_cast<std::size_t>(groups * t_len * n)), cur(org.size()),
      amax(static_cast<std::size_t>(groups * n)), min_err(amax.size()), best(amax.size());
  group_major_kernel<T><<<blocks_for(t_len * k, 256), 256>>>(x.get(), t_len, k, gs, xg.get());
  group_major_kernel<float><<<blocks_for(n * k, 256), 256>>>(w, n, k, gs, wg.get());
  row_absmax_kernel<<<blocks_for(groups * n, 256), 256>>>(wg.get(), groups * n, gs, amax.get());
  throw_if_failed(cudaMemcpy(best.get(), amax.get(), amax.bytes(), cudaMemcpyDeviceToDevice), "clip");
  const std::vector<float> big(amax.size(), 1e9f);
  throw_if_failed(cudaMemcpy(min_err.get(), big.data(), min_err.bytes(), cudaMemcpyHostToDevice), "clip");
  // out_g (t, n) = xg_g (t, gs) · W_g^T for every group g: column-major out_g^T (n, t) = W_g (n, gs) · xg_g^T.
  auto products = [&](const float* weights, float* out) {
    const float one = 1.0f, zero = 0.0f;
    throw_if_failed(cublasSgemmStridedBatched(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(t_len),
                                              static_cast<int>(gs), &one, weights, static_cast<int>(gs), n * gs, xg.get(),
                                              static_cast<int>(gs), t_len * gs, &zero, out, static_cast<int>(n), t_len * n,
                                              static_cast<int>(groups)),
                    "clip products");
  };
  products(wg.get(), org.get());
  const int shrinks = static_cast<int>(prm.max_shrink * static_cast<float>(prm.clip_grid));
  for (int i = 0; i < shrinks; ++i) {
    const float f = 1.0f - static_cast<float>(i) / static_cast<float>(prm.clip_grid);
    clipped_fake_quantize_kernel<Scheme><<<blocks_for(groups * n, 256), 256>>>(wg.get(), groups, n, gs, amax.get(), f, qg.get());
    products(qg.get(), cur.get());
    clip_select_kernel<<<blocks_for(groups * n, 256), 256>>>(cur.get(), org.get(), groups, t_len, n, amax.get(), f,
                                                             min_err.get(), best.get());
  }
  apply_clip_kernel<<<blocks_for(n * k, 256), 256>>>(w, n, k, gs, best.get());
  throw_if_failed(cudaGetLastError(), "clip");
}

/// Every step-th row (step = max(1, rows / tokens)) of the concatenated samples (awq_sample_tokens), as (t, k).
template <class T>
DeviceBuffer<T> sample_rows(const std::vector<DeviceBuffer<T>>& xs, std::int64_t k, int tokens, std::int64_t* t_len) {
  std::int64_t rows = 0;
  for (const auto& x : xs) rows += static_cast<std::int64_t>(x.size()) / k;
  const std::int64_t step = std::max<std::int64_t>(1, rows / tokens);
  std::vector<std::pair<std::size_t, std::int64_t>> picks;  // (sample, row)
  std::int64_t global = 0;
  for (std::size_t s = 0; s < xs.size(); ++s)
    for (std::int64_t t = 0; t < static_cast<std::int64_t>(xs[s].size()) / k; ++t, ++global)
      if (global % step == 0) picks.emplace_back(s, t);
  DeviceBuffer<T> out(picks.size() * static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < picks.size(); ++i)
    throw_if_failed(cudaMemcpy(out.get() + i * k, xs[picks[i].first].get() + picks[i].second * k, k * sizeof(T),
                               cudaMemcpyDeviceToDevice),
                    "sampling tokens");
  *t_len = static_cast<std::int64_t>(picks.size());
  return out;
}

}  // namespace detail

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
    struct Group { LinearInput input; std::vector<int> members; int prev; };  // prev: the preceding linear, or -1
    std::vector<Group> groups{{LinearInput::kAttention, {0, 1, 2}, -1}};
    if (wn[2] == wn[3] && wk[2] == wk[3]) groups.push_back({LinearInput::kAttentionOutput, {3}, 2});  // v -> o
    groups.push_back({LinearInput::kMlp, {4, 5}, -1});
    groups.push_back({LinearInput::kMlpDown, {6}, 5});
    // 3. The scale search of each group, on the original weights.
    std::vector<DeviceBuffer<float>> best_scales;
    std::vector<std::pair<float, double>> best_of;  // (ratio, loss)
    for (const Group& g : groups) {
      const std::int64_t k = wk[g.members.front()];
      const std::int64_t gs = Scheme::group_size == kPerChannel ? k : Scheme::group_size;
      std::vector<const DeviceBuffer<float>*> mw;
      std::vector<std::int64_t> mn;
      for (int m : g.members) { mw.push_back(&w[m]); mn.push_back(wn[m]); }
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
        for (int m : g.members)
          scaled_fake_quantize_kernel<Scheme, T><<<blocks_for(wn[m] * ((k + gs - 1) / gs), 256), 256>>>(
              w[m].get(), wn[m], k, gs, s.get(), work.lin[m].dense.get());
        run(g.input, out);
        const double loss = squared_difference(reference.get(), out.get(), tokens * h) / static_cast<double>(tokens * h);
        if (loss < best_loss) {
          best_loss = loss;
          best_ratio = r;
          throw_if_failed(cudaMemcpy(best.get(), s.get(), s.bytes(), cudaMemcpyDeviceToDevice), "awq scales");
        }
        for (int m : g.members)  // restore the module's weights
          narrow_kernel<T><<<blocks_for(wn[m] * k, 256), 256>>>(w[m].get(), wn[m] * k, work.lin[m].dense.get());
      }
      if (!(best_loss < std::numeric_limits<double>::infinity()))
        throw std::runtime_error("ptq cuda awq: layer " + std::to_string(li) + ": the scale search loss is not finite");
      best_scales.push_back(std::move(best));
      best_of.emplace_back(best_ratio, best_loss);
    }
    // 4. Fold: the preceding op's output channels / s, the group's input columns · s, the captured inputs / s.
    std::array<std::pair<float, double>, 7> found{};  // per linear: its group's (ratio, loss); o without a group: 0
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      const Group& g = groups[gi];
      const float* s = best_scales[gi].get();
      const std::int64_t k = wk[g.members.front()];
      if (g.prev < 0) {
        DeviceBuffer<float>& norm = g.input == LinearInput::kAttention ? layer.input_norm : layer.post_norm;
        divide_kernel<<<blocks_for(k, 256), 256>>>(norm.get(), k, s);
      } else {
        const auto p = static_cast<std::size_t>(g.prev);
        divide_rows_kernel<<<blocks_for(wn[p] * wk[p], 256), 256>>>(w[p].get(), wn[p], wk[p], s);
        if (layer.lin[p].bias.size()) divide_kernel<<<blocks_for(wn[p], 256), 256>>>(layer.lin[p].bias.get(), wn[p], s);
      }
      for (int m : g.members) {
        scale_columns_kernel<<<blocks_for(wn[m] * k, 256), 256>>>(w[m].get(), wn[m], k, s);
        found[static_cast<std::size_t>(m)] = best_of[gi];
      }
      for (auto& x : in[static_cast<std::size_t>(g.input)])
        divide_columns_kernel<T><<<blocks_for(static_cast<std::int64_t>(x.size()), 256), 256>>>(
            x.get(), static_cast<std::int64_t>(x.size()) / k, k, s);
    }
    // 5. Clip (not q/k: the attention softmax amplifies their errors), quantize, install.
    for (int i = 0; i < 7; ++i) {
      const auto at = static_cast<std::size_t>(i < 3 ? 0 : i == 3 ? 1 : i < 6 ? 2 : 3);
      if (prm.clip && i >= 2) {
        std::int64_t t_len = 0;
        const DeviceBuffer<T> sample = sample_rows(in[at], wk[i], prm.clip_tokens, &t_len);
        clip<Scheme, T>(w[i].get(), wn[i], wk[i], sample, t_len, prm, cublas.get());
      }
      const std::int64_t gs = Scheme::group_size == kPerChannel ? wk[i] : Scheme::group_size;
      const std::int64_t ng = (wk[i] + gs - 1) / gs;
      DeviceBuffer<std::uint8_t> codes(static_cast<std::size_t>(wn[i] * wk[i]));
      DeviceBuffer<float2> grid(static_cast<std::size_t>(ng * wn[i]));
      awq_rtn_kernel<Scheme><<<blocks_for(wn[i] * ng, 256), 256>>>(w[i].get(), wn[i], wk[i], gs, codes.get(), grid.get());
      PackedArrays packed = pack_arrays<Scheme>(codes.get(), grid.get(), wn[i], wk[i]);
      model.set_packed(li, i, packed);
      rep.peak_device_bytes = std::max(rep.peak_device_bytes, detail::device_bytes_in_use());
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
