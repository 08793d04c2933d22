/// @file Typed fields of a JSON object (config.json and its quantization_config), with errors naming the file and the
/// field.
#pragma once

#include "ptq/core/status.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <type_traits>

namespace ptq::detail {

template <class T>
T config_field(const nlohmann::json& j, const std::string& file, const char* key, std::optional<T> fallback) {
  if (!j.contains(key) || j[key].is_null()) {
    check(fallback.has_value(), file, key, "required field is missing");
    return *fallback;
  }
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    check(v.is_boolean(), file, key, "expected true/false, got {}", v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    check(v.is_number_integer(), file, key, "expected an integer, got {}", v.dump());
  } else if constexpr (std::is_floating_point_v<T>) {
    check(v.is_number(), file, key, "expected a number, got {}", v.dump());
  } else {
    check(v.is_string(), file, key, "expected a string, got {}", v.dump());
  }
  return v.get<T>();
}

/// Token ids may be an integer or a list of integers (the first is taken); absent means -1.
inline int token_id_field(const nlohmann::json& j, const std::string& file, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  const auto& v = j[key];
  if (v.is_array() && !v.empty()) return token_id_field(nlohmann::json{{key, v[0]}}, file, key);
  check(v.is_number_integer(), file, key, "expected an integer token id, got {}", v.dump());
  return v.get<int>();
}

}  // namespace ptq::detail
