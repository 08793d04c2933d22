#include "model_case.hpp"

#include "ptq/core/rng.hpp"
#include "ptq/model/image_of.hpp"
#include "ptq/model/synthetic.hpp"
#include "ptq/pipeline/quantize.hpp"

namespace ptq::cuda_test {

ModelCase make_model_case(const std::string& model_dir, std::int64_t t_len, CpuMethod method, int bits, int group,
                          bool sym, std::uint64_t seed) {
  auto model = std::make_shared<Qwen2Model>(Qwen2Model::load(model_dir));
  ModelCase c;
  c.name = model_dir;
  Rng rng(seed);
  const auto vocab = static_cast<std::uint64_t>(model->config().vocab_size);
  for (int s = 0; s < 4; ++s) {
    c.calibration.emplace_back();
    for (int t = 0; t < 256; ++t) c.calibration.back().push_back(static_cast<std::int32_t>(rng.below(vocab)));
  }
  if (method != CpuMethod::kNone) {
    QuantizeOptions opt;
    opt.method = method == CpuMethod::kRtn ? Method::kRtn : method == CpuMethod::kGptq ? Method::kGptq : Method::kAwq;
    opt.spec = {bits, group, sym ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
    opt.progress = false;
    quantize_model(*model, opt, c.calibration);
    c.name += fmt::format(" {} {}", method_name(opt.method), config_name(opt.spec));
  }
  for (std::int64_t t = 0; t <= t_len; ++t) c.ids.push_back(static_cast<std::int32_t>(rng.below(vocab)));
  c.targets.assign(c.ids.begin() + 1, c.ids.end());
  c.ids.pop_back();
  const Buffer<float> hs = model->hidden_states(c.ids);
  c.hidden.assign(hs.data(), hs.data() + hs.size());
  for (const auto& s : model->score(c.ids, c.targets)) {
    c.logprob.push_back(s.logprob);
    c.greedy.push_back(s.is_greedy ? 1 : 0);
  }
  // Segment 0: the first third of the ids; segment 1: a prefix of the next third, then two branches (the rest split
  // in two) that each restart their positions after the prefix.
  const auto n = static_cast<std::int32_t>(c.ids.size()), third = n / 3, branch = (n - 2 * third) / 2;
  c.batch.ids = c.ids;
  c.batch.layout.segment_begin = {0, third, n};
  for (std::int32_t t = 0; t < n; ++t) {
    const std::int32_t i = t - third, b = t < 2 * third ? 0 : t < 2 * third + branch ? 1 : 2;
    c.batch.layout.branch.push_back(b);
    c.batch.positions.push_back(t < third ? t : b < 2 ? i : i - branch);
    c.batch.rows.push_back(t);
    c.batch.targets.push_back(c.targets[static_cast<std::size_t>(t)]);
  }
  for (const auto& s : model->score(c.batch)) {
    c.batch_logprob.push_back(s.logprob);
    c.batch_greedy.push_back(s.is_greedy ? 1 : 0);
  }
  c.image = image_of(*model);
  c.model = std::move(model);
  return c;
}

SyntheticModel make_synthetic_model(const std::string& size, std::uint64_t seed) {
  auto model = std::make_shared<Qwen2Model>(make_synthetic_qwen2(qwen25_shape(size), seed));
  SyntheticModel out{nullptr, image_of(*model)};
  out.model = std::move(model);
  return out;
}

}  // namespace ptq::cuda_test
