/// @file Errors that say where and what: the file, the tensor (or field) and the problem.
///
/// Loaders and parsers throw `ptq::Error`; kernels and dispatch return `ptq::Status`. Both carry the
/// same three parts so every message reads "file: tensor: problem".
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <string_view>

#include <stdexcept>
#include <string>
#include <utility>

namespace ptq {

/// Outcome of a call that may fail without throwing (kernel dispatch, `can_implement`).
struct Status {
  std::string file;     ///< file the problem is in; empty when not about a file
  std::string item;     ///< tensor, field or row the problem is about; may be empty
  std::string problem;  ///< what is wrong, in words; empty means success

  [[nodiscard]] bool ok() const { return problem.empty(); }
  [[nodiscard]] std::string message() const {
    std::string out;
    if (!file.empty()) out += file + ": ";
    if (!item.empty()) out += item + ": ";
    return out + problem;
  }
  static Status success() { return {}; }
};

/// Exception thrown by loaders and parsers; `what()` is `Status::message()`.
class Error : public std::runtime_error {
 public:
  explicit Error(Status s) : std::runtime_error(s.message()), status_(std::move(s)) {}
  Error(std::string file, std::string item, std::string problem)
      : Error(Status{std::move(file), std::move(item), std::move(problem)}) {}
  [[nodiscard]] const Status& status() const { return status_; }

 private:
  Status status_;
};

/// Throws `Error{file, item, fmt::format(fmt, args...)}` unless `cond` holds.
template <class... Args>
void check(bool cond, const std::string& file, const std::string& item, fmt::format_string<Args...> fmt,
           Args&&... args) {
  if (!cond) throw Error(file, item, fmt::format(fmt, std::forward<Args>(args)...));
}

/// The enumerator whose name (its index in `names`) is `name`; the error lists the accepted names.
template <class Enum, std::size_t N>
Enum enum_from_name(const std::array<std::string_view, N>& names, std::string_view name, std::string_view what) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<Enum>(i);
  throw Error("", std::string(what), fmt::format("unknown {} \"{}\" ({})", what, name, fmt::join(names, ", ")));
}

}  // namespace ptq
