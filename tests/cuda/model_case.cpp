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
