/// @file A quantized checkpoint's "quantization_config" (config.json), read and written: ptq's native format, GPTQ
/// v1/v2 and AWQ GEMM.
#pragma once

#include "ptq/checkpoint/format.hpp"
#include "ptq/io/file.hpp"
#include "ptq/io/json_fields.hpp"
#include "ptq/quant/quantizer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace ptq {

/// The quantization a checkpoint's config.json declares ("quantization_config"), or nullopt for a dense model.
///   ptq native: {"quant_method": "ptq", "format_version": 1, "bits", "group_size", "sym"}
///   GPTQ:       {"quant_method": "gptq", "bits" 2|3|4|8, "group_size" (-1: per channel), "sym", "desc_act",
///                "checkpoint_format": "gptq" (v1, the default) | "gptq_v2"}
///   AWQ:        {"quant_method": "awq", "bits": 4, "group_size", "zero_point", "version": "gemm"}
inline std::optional<QuantizedCheckpoint> load_quantization(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  const auto j = nlohmann::json::parse(read_text_file(file), nullptr, false);
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
  return c;
}

/// quantization_config for `format`: ptq's own fields, or the ecosystem's (GPTQ: AutoGPTQ/GPTQModel's v1 keys;
/// AWQ: AutoAWQ's), with `info` merged in (native) or kept under "meta" (ecosystem formats).
inline nlohmann::ordered_json quantization_config(const QuantSpec& spec, CheckpointFormat format, bool act_order,
                                                  const nlohmann::ordered_json& info) {
  nlohmann::ordered_json q;
  switch (format) {
    case CheckpointFormat::kNative:
      q = {{"quant_method", "ptq"}, {"format_version", 1}, {"bits", spec.bits}, {"group_size", spec.group_size},
           {"sym", spec.sym()}};
      for (const auto& [k, v] : info.items()) q[k] = v;
      return q;
    case CheckpointFormat::kGptq:
      q = {{"quant_method", "gptq"}, {"bits", spec.bits},
           {"group_size", spec.group_size == kPerChannel ? -1 : spec.group_size}, {"desc_act", act_order},
           {"sym", spec.sym()}, {"checkpoint_format", "gptq"}, {"true_sequential", true}};
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
