// Mixed precision: the allocation against exhaustive search, the per-module "dynamic" config written and read,
// and the whole-model acceptance on the outlier model (bits, PPL against the uniform schemes, round trip).
#include "ptq/eval/perplexity.hpp"
#include "ptq/model/save.hpp"
#include "ptq/pipeline/quantize.hpp"

#include "test_util.hpp"

#include <map>
#include <set>

using ptq::test::data_dir;
using ptq::test::shared_dir;

namespace {

constexpr auto kSym = ptq::Symmetry::kSymmetric;
constexpr auto kAsym = ptq::Symmetry::kAsymmetric;

double total(const std::vector<ptq::AllocationUnit>& units, const std::vector<std::size_t>& c, bool bits) {
  double s = 0;
  for (std::size_t u = 0; u < units.size(); ++u) s += bits ? units[u].bits[c[u]] : units[u].loss[c[u]];
  return s;
}

/// A quantized model's linears' schemes, by module name.
std::map<std::string, ptq::QuantSpec> linear_specs(const ptq::Qwen2Model& m) {
  std::map<std::string, ptq::QuantSpec> out;
  for (const auto& [name, p] : ptq::quantized_tensors(m.weights()).packed) out[name] = p->spec;
  return out;
}

}  // namespace

TEST_CASE("the allocation meets the budget and is within one unit's loss range of the exhaustive optimum",
          "[mixed][allocate]") {
  ptq::Rng rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    // 6 units x 3 candidates (more bits, less loss, as real schemes), of different sizes.
    std::vector<ptq::AllocationUnit> units(6);
    double weights = 0, range = 0;
    for (auto& u : units) {
      u.weights = 1000.0 * (1 + rng.below(8));
      weights += u.weights;
      double bits = 3 + rng.uniform(), loss = 1 + 10 * rng.uniform();
      for (int c = 0; c < 3; ++c) {
        u.bits.push_back(bits * u.weights);
        u.loss.push_back(loss);
        bits += 0.5 + 2 * rng.uniform();
        loss *= rng.uniform();
      }
      range = std::max(range, u.loss.front() - u.loss.back());
    }
    const double budget = 3.5 + 2 * rng.uniform();
    double best = std::numeric_limits<double>::infinity();
    bool any = false;
    for (int code = 0; code < 729; ++code) {
      std::vector<std::size_t> c(6);
      for (int u = 0, x = code; u < 6; ++u, x /= 3) c[static_cast<std::size_t>(u)] = static_cast<std::size_t>(x % 3);
      if (total(units, c, true) > budget * weights) continue;
      any = true;
      best = std::min(best, total(units, c, false));
    }
    if (!any) {
      PTQ_REQUIRE_ERROR(ptq::allocate_bits(units, budget), "--budget-bits", "below the smallest allocation");
      continue;
    }
    const auto c = ptq::allocate_bits(units, budget);
    INFO("trial " << trial << " budget " << budget);
    CHECK(total(units, c, true) <= budget * weights);
    CHECK(total(units, c, false) >= best - 1e-12);
    CHECK(total(units, c, false) <= best + range);
    for (std::size_t u = 0; u < units.size(); ++u)  // no single change that fits saves loss (the greedy fill's end)
      for (std::size_t k = 0; k < 3; ++k) {
        auto d = c;
        d[u] = k;
        if (total(units, d, true) <= budget * weights) CHECK(total(units, d, false) >= total(units, c, false));
      }
  }
}

TEST_CASE("the allocation on a known case: the budget goes where it saves the most loss per bit", "[mixed][allocate]") {
  // Two equal units, candidates 3 and 4 bits per weight; upgrading A saves 10, B saves 1. Budget 3.5: A only.
  const std::vector<ptq::AllocationUnit> units{{{0}, 100, {20, 10}, {300, 400}}, {{1}, 100, {5, 4}, {300, 400}}};
  CHECK(ptq::allocate_bits(units, 3.5) == std::vector<std::size_t>{1, 0});
  CHECK(ptq::allocate_bits(units, 4.0) == std::vector<std::size_t>{1, 1});
  CHECK(ptq::allocate_bits(units, 3.0) == std::vector<std::size_t>{0, 0});
  PTQ_REQUIRE_ERROR(ptq::allocate_bits(units, 2.9), "--budget-bits", "smallest allocation the candidates allow (3.0000)");
}

TEST_CASE("candidates are instantiated schemes, named once", "[mixed][errors]") {
  CHECK(fmt::format("{}", ptq::MixedParams{3.6, ptq::parse_candidates({"w3g128a", "w4g128s"})}) ==
        "{budget_bits: 3.6, candidates: [{bits: 3, group_size: 128, symmetry: asym}, {bits: 4, group_size: 128, symmetry: sym}]}");
  CHECK(ptq::parse_candidates({"w3g128a", "w4g128s"}) ==
        std::vector<ptq::QuantSpec>{{3, 128, kAsym}, {4, 128, kSym}});
  PTQ_REQUIRE_ERROR(ptq::parse_candidates({"w3g128a", "w5g128s"}), "--candidates", "\"w5g128s\" is not an instantiated",
                    "w4g128s");
  PTQ_REQUIRE_ERROR(ptq::parse_candidates({"w4g128s", "w4g128s"}), "--candidates", "named twice");
  PTQ_REQUIRE_ERROR(ptq::parse_candidates({"w4g128s"}), "--candidates", "at least two");
}

TEST_CASE("per-module schemes are written as GPTQModel's dynamic entries and read back", "[mixed][dynamic]") {
  const std::map<std::string, ptq::QuantSpec> specs{
      {"model.layers.0.mlp.down_proj", {8, 128, kSym}},   {"model.layers.0.mlp.up_proj", {3, 128, kAsym}},
      {"model.layers.1.mlp.down_proj", {3, 128, kAsym}},  {"model.layers.10.mlp.down_proj", {4, 128, kSym}},
      {"model.layers.1.self_attn.q_proj", {4, 0, kSym}}};
  const auto q = ptq::quantization_config(specs, ptq::CheckpointFormat::kGptq, false, {});
  CHECK(q["bits"] == 3);  // the most common scheme is the base
  CHECK(q["dynamic"].size() == 3);
  CHECK(q["dynamic"]["+:model\\.layers\\.0\\.mlp\\.down_proj$"] ==
        nlohmann::ordered_json{{"bits", 8}, {"group_size", 128}, {"sym", true}});
  CHECK(q["dynamic"]["+:model\\.layers\\.1\\.self_attn\\.q_proj$"]["group_size"] == -1);
  ptq::test::TempDir tmp;
  auto write = [&](const nlohmann::ordered_json& qc) {
    ptq::write_file_atomic(tmp / "config.json",
                           [&](std::ostream& o) { o << nlohmann::ordered_json{{"quantization_config", qc}}.dump(); });
    return ptq::load_quantization(tmp.path());
  };
  for (const auto format : {ptq::CheckpointFormat::kGptq, ptq::CheckpointFormat::kNative}) {
    const auto read = write(ptq::quantization_config(specs, format, false, {}));
    REQUIRE(read.has_value());
    for (const auto& [name, spec] : specs) CHECK(read->spec_for(name) == spec);
    // "model.layers.1" must not match "model.layers.10": the entries are anchored at both ends.
    CHECK(read->spec_for("model.layers.10.mlp.up_proj") == ptq::QuantSpec{3, 128, kAsym});
  }
  // GPTQModel's semantics: the first matching entry decides, matched at the start only; "-:" leaves a module dense.
  auto qc = nlohmann::ordered_json{{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}, {"sym", true}};
  qc["dynamic"] = {{"-:.*\\.0\\.mlp\\.down", nlohmann::ordered_json::object()},
                   {"+:.*\\.mlp\\.", {{"bits", 8}}},
                   {"mlp", {{"bits", 2}}}};
  const auto read = write(qc);
  CHECK_FALSE(read->spec_for("model.layers.0.mlp.down_proj").has_value());
  CHECK(read->spec_for("model.layers.1.mlp.down_proj") == ptq::QuantSpec{8, 128, kSym});
  CHECK(read->spec_for("model.layers.1.self_attn.q_proj") == ptq::QuantSpec{4, 128, kSym});
  qc["dynamic"] = {{"+:.*down", {{"bits", 9}}}};
  PTQ_REQUIRE_ERROR(write(qc), "config.json", "dynamic[\"+:.*down\"]", "bits");
  qc["dynamic"] = {{"+:.*down", {{"sym", 1}}}};
  PTQ_REQUIRE_ERROR(write(qc), "config.json", "dynamic[\"+:.*down\"].sym", "true/false");
  qc["dynamic"] = {{"+:(", nlohmann::ordered_json::object()}};
  PTQ_REQUIRE_ERROR(write(qc), "config.json", "dynamic[\"+:(\"]", "does not compile");
  qc["dynamic"] = {{"+:x", 8}};
  PTQ_REQUIRE_ERROR(write(qc), "config.json", "expected an object of overrides");
  auto awq = nlohmann::ordered_json{{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}, {"version", "gemm"}};
  awq["dynamic"] = {{"+:x", {{"bits", 4}}}};
  PTQ_REQUIRE_ERROR(write(awq), "config.json", "AWQ GEMM checkpoints hold one scheme");
}

TEST_CASE("a mixed GPTQ export's dynamic config resolves per module as GPTQModel's own parser resolves it",
          "[mixed][dynamic][golden]") {
  // tools/golden/make_interop_golden.py --parts mixed: ptq's mixed export of qwen2-micro, read by GPTQModel 7.7.0's
  // QuantizeConfig.from_quant_config / dynamic_get (and its dequantization checked identical there).
  const auto golden = nlohmann::ordered_json::parse(ptq::read_text_file(data_dir() / "interop/mixed_dynamic.json"));
  const auto& qc = golden["quantization_config"];
  ptq::test::TempDir tmp;
  ptq::write_file_atomic(tmp / "config.json",
                         [&](std::ostream& o) { o << nlohmann::ordered_json{{"quantization_config", qc}}.dump(); });
  const auto read = ptq::load_quantization(tmp.path());
  REQUIRE(read.has_value());
  REQUIRE(golden["modules"].size() == 42);
  std::map<std::string, ptq::QuantSpec> specs;
  for (const auto& [name, m] : golden["modules"].items()) {
    const int group = m["group_size"].get<int>();
    const ptq::QuantSpec theirs{m["bits"].get<int>(), group == -1 ? ptq::kPerChannel : group,
                                m["sym"].get<bool>() ? kSym : kAsym};
    INFO(name);
    CHECK(read->spec_for(name) == theirs);
    specs[name] = theirs;
  }
  // ptq's writer gives these schemes the very entries GPTQModel read.
  CHECK(ptq::quantization_config(specs, ptq::CheckpointFormat::kGptq, false, {})["dynamic"] == qc["dynamic"]);
}

TEST_CASE("mixed GPTQ at 3.6 bits on the outlier model: under budget, below W3 and the W3-W4 line; round trip",
          "[mixed][pipeline]") {
  // The protocol: GPTQ-protocol PPL on WikiText-2 test, seqlen 512, the first 32 windows; calibration
  // 32 x 512 tokens of validation.
  const auto dir = shared_dir() / "models/qwen2-micro-outliers";
  const auto tok = ptq::Tokenizer::load(dir);
  const auto test_ids = tok.encode(ptq::read_corpus(shared_dir() / "data/wikitext-2-raw-v1/test.jsonl"));
  const auto calib = ptq::calibration_windows(
      tok.encode(ptq::read_corpus(shared_dir() / "data/wikitext-2-raw-v1/validation.jsonl")), {32, 512, 0});
  const ptq::ScoringOptions quiet{2048, false};
  ptq::QuantizeReport rm;  // the mixed run's
  auto run = [&](const ptq::QuantSpec& spec, std::optional<ptq::MixedParams> mixed) {
    auto model = ptq::Qwen2Model::load(dir);
    ptq::QuantizeOptions opt;
    opt.method = ptq::Method::kGptq;
    opt.spec = spec;
    opt.progress = false;
    const bool is_mixed = mixed.has_value();
    opt.mixed = std::move(mixed);
    const auto rep = ptq::quantize_model(model, opt, calib);
    if (is_mixed) rm = rep;
    return model;
  };
  const ptq::MixedParams mixed{3.6, {{3, 128, kAsym}, {4, 128, kSym}, {8, 128, kSym}}};
  const auto w3 = run({3, 128, kAsym}, std::nullopt);
  const auto w4 = run({4, 128, kSym}, std::nullopt);
  const auto mix = run({4, 128, kSym}, mixed);
  const double b3 = ptq::linear_bits_per_weight(w3), b4 = ptq::linear_bits_per_weight(w4);
  const double bm = ptq::linear_bits_per_weight(mix);
  const double p3 = ptq::perplexity_gptq(w3, test_ids, 512, 32, quiet).ppl;
  const double p4 = ptq::perplexity_gptq(w4, test_ids, 512, 32, quiet).ppl;
  const double pm = ptq::perplexity_gptq(mix, test_ids, 512, 32, quiet).ppl;
  const double line = p3 + (p4 - p3) * (bm - b3) / (b4 - b3);
  INFO("W3 " << b3 << " bits ppl " << p3 << "; W4 " << b4 << " bits ppl " << p4 << "; mixed " << bm << " bits ppl " << pm
             << " (line " << line << ")");
  REQUIRE(rm.mixed.has_value());
  CHECK(bm <= 3.6);
  CHECK(bm == Approx(rm.mixed->bits_per_weight).epsilon(1e-12));  // the plan's measured sizes are the model's
  CHECK(pm < p3);
  CHECK(pm <= line);
  // Every linear in its planned scheme.
  const auto specs = linear_specs(mix);
  for (std::size_t i = 0; i < rm.mixed->names.size(); ++i)
    CHECK(specs.at(rm.mixed->names[i]) == rm.mixed->linear_specs[i / 7][i % 7]);

  // The measure is GPTQ's own loss: Σ (w - q)² / d² / 2 telescopes to ½ tr(ΔW H_damped ΔWᵀ), so with a negligible
  // damping, layer 0's q/k/v (the same inputs in both: the embeddings) agree to float32 rounding.
  {
    const ptq::LayerwiseRequest r{ptq::Method::kGptq, {4, 128, kSym}, {.damp = 1e-5f}, {}, true, {}};
    auto a = ptq::Qwen2Model::load(dir), b = ptq::Qwen2Model::load(dir);
    ptq::CpuLayers quantized(a, r), measured(b, r);
    quantized.embed(calib);
    measured.embed(calib);
    std::array<ptq::LinearResult, 7> results{};
    quantized.gptq(0, ptq::kLinearGroups[0], results);
    const std::vector<ptq::QuantSpec> candidates{{4, 128, kSym}};
    const auto e = measured.sensitivity(0, candidates);
    for (const int slot : {0, 1, 2}) {
      INFO(ptq::kLinearNames[static_cast<std::size_t>(slot)]);
      CHECK(e[static_cast<std::size_t>(slot)].loss == Approx(results[static_cast<std::size_t>(slot)].loss).epsilon(0.01));
    }
  }

  // Written (native, GPTQ v1 with "dynamic"), read back: the same schemes and the same perplexity. AWQ refuses.
  ptq::test::TempDir tmp;
  for (const auto format : {ptq::CheckpointFormat::kNative, ptq::CheckpointFormat::kGptq}) {
    const auto out = tmp / std::string(ptq::format_name(format));
    ptq::save_quantized(mix, out, {}, format);
    const auto loaded = ptq::Qwen2Model::load(out);
    CHECK(linear_specs(loaded) == specs);
    CHECK(ptq::perplexity_gptq(loaded, test_ids, 512, 32, quiet).ppl == pm);
  }
  PTQ_REQUIRE_ERROR(ptq::save_quantized(mix, tmp / "awq", {}, ptq::CheckpointFormat::kAwq), "AWQ GEMM holds one scheme",
                    "--format gptq or native");
  CHECK_FALSE(std::filesystem::exists(tmp / "awq"));
}

TEST_CASE("mixed AWQ gives a group's linears one scheme; mixed RTN meets its budget", "[mixed][pipeline]") {
  const auto dir = shared_dir() / "models/qwen2-micro";
  const auto tok = ptq::Tokenizer::load(dir);
  const auto calib = ptq::calibration_windows(
      tok.encode(ptq::read_corpus(shared_dir() / "data/wikitext-2-raw-v1/validation.jsonl")), {8, 256, 0});
  for (const auto method : {ptq::Method::kAwq, ptq::Method::kRtn}) {
    auto model = ptq::Qwen2Model::load(dir);
    ptq::QuantizeOptions opt;
    opt.method = method;
    opt.mixed = ptq::MixedParams{3.8, {{3, 128, kAsym}, {4, 128, kAsym}}};
    opt.progress = false;
    const auto rep = ptq::quantize_model(model, opt, calib);
    INFO(ptq::method_name(method));
    CHECK(ptq::linear_bits_per_weight(model) <= 3.8);
    const auto specs = linear_specs(model);
    std::set<std::string> schemes;
    for (const auto& [name, spec] : specs) schemes.insert(ptq::config_name(spec));
    CHECK(schemes.size() == 2);  // a mix, not one scheme
    if (method == ptq::Method::kAwq)
      for (std::size_t l = 0; l < model.weights().layers.size(); ++l)
        for (const ptq::LinearGroup& g : ptq::kLinearGroups)
          for (const int m : g.members())
            CHECK(specs.at(fmt::format("model.layers.{}.{}", l, ptq::kLinearNames[static_cast<std::size_t>(m)])) ==
                  specs.at(fmt::format("model.layers.{}.{}", l, ptq::kLinearNames[static_cast<std::size_t>(g.members().front())])));
  }
  auto model = ptq::Qwen2Model::load(dir);
  ptq::QuantizeOptions opt;
  opt.mixed = ptq::MixedParams{3.8, {{3, 128, kAsym}, {4, 128, kAsym}}};
  PTQ_REQUIRE_ERROR(ptq::quantize_model(model, opt, {}), "mixed precision (its sensitivity) needs calibration");
  opt.device = ptq::Device::kCuda;
  PTQ_REQUIRE_ERROR(ptq::quantize_model(model, opt, calib), "--mixed", "quantized on the CPU");
}
