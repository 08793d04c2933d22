/// @file Printing and iterating plain aggregates (configs, algorithm parameters) with Boost.PFR.
///
/// Boost 1.81's PFR cannot name fields (boost::pfr::get_name came with Boost 1.84), so an aggregate
/// that wants named printing declares `static constexpr std::array field_names{...}`; a static_assert
/// keeps it in step with the fields.
#pragma once

#include <boost/pfr.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace ptq {

template <class T>
concept NamedAggregate = std::is_aggregate_v<T> && requires { T::field_names; } &&
                         (T::field_names.size() == boost::pfr::tuple_size_v<T>);

/// Calls f(name, value) for every field of a NamedAggregate, in declaration order.
template <NamedAggregate T, class F>
void for_each_named_field(T& value, F&& f) {
  boost::pfr::for_each_field(value, [&](auto& field, std::size_t i) { f(T::field_names[i], field); });
}

namespace detail {
template <class V> std::string field_to_string(const V& v) {
  if constexpr (std::is_same_v<V, std::string>) return fmt::format("\"{}\"", v);
  else if constexpr (requires { v.has_value(); }) return v ? field_to_string(*v) : std::string("null");
  else if constexpr (requires { v.begin(); v.end(); }) {  // a list: each element as a field (not quoted as fmt's
    std::string out = "[";                                // ranges quote elements that format as strings)
    for (const auto& x : v) out += (out.size() > 1 ? ", " : "") + field_to_string(x);
    return out + "]";
  } else return fmt::format("{}", v);
}
}  // namespace detail

/// "{name: value, ...}" for logs and result records.
template <NamedAggregate T>
std::string to_string(const T& value) {
  std::string out = "{";
  for_each_named_field(value, [&](std::string_view name, const auto& field) {
    if (out.size() > 1) out += ", ";
    out += fmt::format("{}: {}", name, detail::field_to_string(field));
  });
  return out + "}";
}

}  // namespace ptq

template <ptq::NamedAggregate T>
struct fmt::formatter<T> : fmt::formatter<std::string_view> {
  auto format(const T& v, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(ptq::to_string(v), ctx);
  }
};
