/// @file Typed fields of a JSON object (config.json and its quantization_config), with errors naming the file and the
/// field.
#pragma once

#include "ptq/core/status.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ptq::detail {

/// Whether the JSON integer `v` is a T: get<T> would wrap one that is not, silently.
template <class T>
bool fits_integer(const nlohmann::json& v) {
  return v.is_number_unsigned() ? std::in_range<T>(v.get<std::uint64_t>()) : std::in_range<T>(v.get<std::int64_t>());
}

/// `j[key]` as T, or `fallback` when absent or null (an error when there is none); an error naming the file and
/// `parent.key` when `j` is not an object or the value has another type. Untrusted JSON is read only through this:
/// nlohmann's value() throws its own type_error there, which no caller expects.
template <class T>
T config_field(const nlohmann::json& j, const std::string& file, const char* key, std::optional<T> fallback,
               std::string_view parent = {}) {
  const std::string field = parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
  check(j.is_object(), file, parent.empty() ? field : std::string(parent), "expected an object, got {}", j.dump());
  if (!j.contains(key) || j[key].is_null()) {
    check(fallback.has_value(), file, field, "required field is missing");
    return *fallback;
  }
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    check(v.is_boolean(), file, field, "expected true/false, got {}", v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    check(v.is_number_integer(), file, field, "expected an integer, got {}", v.dump());
    check(fits_integer<T>(v), file, field, "{} is out of range", v.dump());
  } else if constexpr (std::is_floating_point_v<T>) {
    check(v.is_number(), file, field, "expected a number, got {}", v.dump());
  } else {
    check(v.is_string(), file, field, "expected a string, got {}", v.dump());
  }
  return v.get<T>();
}

/// Token ids may be an integer or a list of integers (the first is taken); absent means -1.
inline int token_id_field(const nlohmann::json& j, const std::string& file, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  const auto& v = j[key];
  if (v.is_array() && !v.empty()) return token_id_field(nlohmann::json{{key, v[0]}}, file, key);
  return config_field<int>(j, file, key, -1);
}

}  // namespace ptq::detail
