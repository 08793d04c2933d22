/// @file A quantized checkpoint's "quantization_config" (config.json), read and written: ptq's native format, GPTQ
/// v1/v2 and AWQ GEMM.
#pragma once

#include "ptq/checkpoint/format.hpp"
#include "ptq/io/file.hpp"
#include "ptq/io/json_fields.hpp"
#include "ptq/quant/quantizer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ptq {

namespace detail {

/// GPTQModel's "dynamic" object (pattern -> overrides) in the file's order (the first match decides, as in a Python
/// dict: hence ordered_json); each override's scheme checked.
inline std::vector<DynamicRule> dynamic_rules(const nlohmann::ordered_json& d, const QuantSpec& base,
                                              const std::string& f) {
  check(d.is_object(), f, "quantization_config.dynamic", "expected an object of \"pattern\": {{overrides}}");
  std::vector<DynamicRule> rules;
  for (const auto& [key, ov] : d.items()) {
    const nlohmann::json v = nlohmann::json::parse(ov.dump());  // config_field reads nlohmann::json
    const std::string where = fmt::format("quantization_config.dynamic[\"{}\"]", key);
    DynamicRule r;
    r.key = key;
    r.skip = key.starts_with("-:");
    const std::string pattern = key.starts_with("-:") || key.starts_with("+:") ? key.substr(2) : key;
    r.regex = std::make_shared<const Regex>(pattern, f, where);
    check(v.is_object(), f, where, "expected an object of overrides, got {}", v.dump());
    const auto field = [&]<class T>(const char* k, std::optional<T>& out) {
      if (v.contains(k) && !v[k].is_null()) out = config_field<T>(v, f, k, std::nullopt, where);
    };
    field("bits", r.bits);
    field("group_size", r.group_size);
    field("sym", r.sym);
    check(!r.group_size || *r.group_size != 0, f, where + ".group_size", "0 is not a group size (-1 means per channel)");
    if (!r.skip) {
      const int group = r.group_size.value_or(base.group_size == kPerChannel ? -1 : base.group_size);
      validate(QuantSpec{r.bits.value_or(base.bits), group == -1 ? kPerChannel : group,
                         r.sym.value_or(base.sym()) ? Symmetry::kSymmetric : Symmetry::kAsymmetric},
               f + ": " + where);
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace detail

/// The quantization a checkpoint's config.json declares ("quantization_config"), or nullopt for a dense model.
///   ptq native: {"quant_method": "ptq", "format_version": 1, "bits", "group_size", "sym"}
///   GPTQ:       {"quant_method": "gptq", "bits" 2|3|4|8, "group_size" (-1: per channel), "sym", "desc_act",
///                "checkpoint_format": "gptq" (v1, the default) | "gptq_v2"}
///   AWQ:        {"quant_method": "awq", "bits": 4, "group_size", "zero_point", "version": "gemm"}
/// ptq and GPTQ configs may carry GPTQModel's per-module "dynamic" schemes (mixed precision):
///   "dynamic": {"+:model\\.layers\\.0\\.mlp\\.down_proj$": {"bits": 8, "group_size": 128, "sym": true}, "-:regex": {}}
inline std::optional<QuantizedCheckpoint> load_quantization(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  const std::string text = read_text_file(file);
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("quantization_config")) return std::nullopt;
  const auto& q = j["quantization_config"];
  const std::string f = file.string();
  check(q.is_object(), f, "quantization_config", "expected an object");
  // Every field through config_field: a field of the wrong type is an error naming it, not nlohmann's type_error.
  const auto field = [&]<class T>(const char* key, std::optional<T> fallback) {
    return detail::config_field<T>(q, f, key, fallback, "quantization_config");
  };
  const auto method = field("quant_method", std::optional<std::string>(""));
  const int bits = field("bits", std::optional<int>());
  const int group = field("group_size", std::optional<int>());
  QuantizedCheckpoint c;
  if (method == "ptq") {
    const int version = field("format_version", std::optional<int>(0));
    check(version == 1, f, "quantization_config.format_version", "unsupported version {} (ptq reads version 1)",
          version);
    c.spec = {bits, group, field("sym", std::optional<bool>()) ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
  } else if (method == "gptq") {
    const auto fmt_name = field("checkpoint_format", std::optional<std::string>("gptq"));
    check(fmt_name == "gptq" || fmt_name == "gptq_v2", f, "quantization_config.checkpoint_format",
          "\"{}\" is not supported (gptq, gptq_v2)", fmt_name);
    check(bits == 2 || bits == 3 || bits == 4 || bits == 8, f, "quantization_config.bits",
          "GPTQ checkpoints have 2, 3, 4 or 8 bits, not {}", bits);
    c.format = CheckpointFormat::kGptq;
    c.zero_offset = fmt_name == "gptq" ? 1 : 0;
    c.spec = {bits, group == -1 ? kPerChannel : group,
              field("sym", std::optional<bool>(true)) ? Symmetry::kSymmetric : Symmetry::kAsymmetric};
    check(group != 0, f, "quantization_config.group_size", "0 is not a GPTQ group size (-1 means per channel)");
  } else if (method == "awq") {
    const auto version = field("version", std::optional<std::string>("gemm"));
    check(version == "gemm" || version == "GEMM", f, "quantization_config.version",
          "AWQ \"{}\" packing is not supported (gemm)", version);
    check(bits == 4, f, "quantization_config.bits", "AWQ GEMM checkpoints are 4-bit, not {}", bits);
    check(group > 0, f, "quantization_config.group_size", "AWQ GEMM needs a positive group size, got {}", group);
    c.format = CheckpointFormat::kAwq;
    const bool zero_point = field("zero_point", std::optional<bool>(true));
    c.spec = {bits, group, zero_point ? Symmetry::kAsymmetric : Symmetry::kSymmetric};
  } else {
    throw Error(f, "quantization_config.quant_method",
                fmt::format("\"{}\" checkpoints are not supported (ptq, gptq, awq)", method));
  }
  validate(c.spec, f + ": quantization_config");
  if (q.contains("dynamic") && !q["dynamic"].is_null()) {
    check(c.format != CheckpointFormat::kAwq, f, "quantization_config.dynamic",
          "AWQ GEMM checkpoints hold one scheme; per-module schemes are read from ptq and GPTQ checkpoints");
    c.dynamic = detail::dynamic_rules(
        nlohmann::ordered_json::parse(text)["quantization_config"]["dynamic"], c.spec, f);
  }
  return c;
}

/// The "dynamic" entries of a quantization_config for `specs` (module name -> scheme): one "+:" entry, anchored at
/// both ends, for each module whose scheme differs from `base`; none when every module has `base`.
inline nlohmann::ordered_json dynamic_config(const std::map<std::string, QuantSpec>& specs, const QuantSpec& base) {
  nlohmann::ordered_json d = nlohmann::ordered_json::object();
  for (const auto& [module, spec] : specs) {
    if (spec == base) continue;
    std::string pattern;
    for (const char ch : module) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') pattern += '\\';
      pattern += ch;
    }
    d["+:" + pattern + "$"] = {{"bits", spec.bits}, {"group_size", spec.group_size == kPerChannel ? -1 : spec.group_size},
                               {"sym", spec.sym()}};
  }
  return d;
}

/// The scheme most modules of `specs` have (ties: the first in name order): a mixed checkpoint's base scheme.
inline QuantSpec most_common_spec(const std::map<std::string, QuantSpec>& specs) {
  std::vector<std::pair<QuantSpec, std::size_t>> counts;
  for (const auto& entry : specs) {
    const QuantSpec& spec = entry.second;  // (a structured binding cannot be captured by clang 15's lambdas)
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == spec; });
    if (it == counts.end()) counts.emplace_back(spec, 1);
    else ++it->second;
  }
  check(!counts.empty(), "", "quantization_config", "no quantized module");
  return std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

/// quantization_config for `format` and the modules' schemes `specs` (module name -> scheme): ptq's own fields, or
/// the ecosystem's (GPTQ: AutoGPTQ/GPTQModel's v1 keys; AWQ: AutoAWQ's), with `info` merged in (native) or kept
/// under "meta" (ecosystem formats). The most common scheme is the base; the others go to "dynamic" (AWQ refuses
/// a mix: write_quantized checks first).
inline nlohmann::ordered_json quantization_config(const std::map<std::string, QuantSpec>& specs, CheckpointFormat format,
                                                  bool act_order, const nlohmann::ordered_json& info) {
  const QuantSpec spec = most_common_spec(specs);
  const nlohmann::ordered_json dynamic = dynamic_config(specs, spec);
  nlohmann::ordered_json q;
  switch (format) {
    case CheckpointFormat::kNative:
      q = {{"quant_method", "ptq"}, {"format_version", 1}, {"bits", spec.bits}, {"group_size", spec.group_size},
           {"sym", spec.sym()}};
      if (!dynamic.empty()) q["dynamic"] = dynamic;
      for (const auto& [k, v] : info.items()) q[k] = v;
      return q;
    case CheckpointFormat::kGptq:
      q = {{"quant_method", "gptq"}, {"bits", spec.bits},
           {"group_size", spec.group_size == kPerChannel ? -1 : spec.group_size}, {"desc_act", act_order},
           {"sym", spec.sym()}, {"checkpoint_format", "gptq"}, {"true_sequential", true}};
      if (!dynamic.empty()) q["dynamic"] = dynamic;
      break;
    case CheckpointFormat::kAwq:
      q = {{"quant_method", "awq"}, {"bits", spec.bits}, {"group_size", spec.group_size}, {"zero_point", true},
           {"version", "gemm"}, {"modules_to_not_convert", nullptr}};
      break;
  }
  q["meta"] = info;
  return q;
}

}  // namespace ptq
