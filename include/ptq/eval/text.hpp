/// @file Python string semantics that lm-eval's task templates rely on: str.isspace / strip / rstrip /
/// capitalize and re.split(r"\s+") counting, on UTF-8 text.
#pragma once

#include "ptq/tokenizer/regex.hpp"
#include "ptq/tokenizer/unicode.hpp"

#include <string>
#include <string_view>

namespace ptq {

/// Replaces every occurrence of `from` with `to` (Python str.replace).
inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
    out.append(s, pos, hit - pos).append(to);
  out.append(s, pos, std::string::npos);
  return out;
}

}  // namespace ptq

namespace ptq::py {

/// Python's str.isspace for one code point: category Zs, or bidirectional class WS, B or S.
inline bool is_space(std::int32_t cp) {
  const auto* p = utf8proc_get_property(cp);
  return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

namespace detail {
/// Byte length of the whitespace run that starts (forward) or ends (backward) at the given edge.
inline std::size_t leading_space(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0 || !is_space(cp)) break;
    i += static_cast<std::size_t>(n);
  }
  return i;
}
inline std::size_t trailing_space(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t b = end - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xc0) == 0x80) --b;  // start of the last code point
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + b),
                                    static_cast<utf8proc_ssize_t>(end - b), &cp);
    if (n <= 0 || !is_space(cp)) break;
    end = b;
  }
  return s.size() - end;
}
}  // namespace detail

inline std::string_view rstrip(std::string_view s) { return s.substr(0, s.size() - detail::trailing_space(s)); }
inline std::string_view lstrip(std::string_view s) { return s.substr(detail::leading_space(s)); }
inline std::string_view strip(std::string_view s) { return lstrip(rstrip(s)); }

/// str.capitalize: first character title-cased, the rest lower-cased (simple case mappings).
inline std::string capitalize(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    check(n > 0, "", "capitalize", "invalid UTF-8 at byte {}", i);
    append_utf8(out, static_cast<std::uint32_t>(first ? utf8proc_totitle(cp) : utf8proc_tolower(cp)));
    first = false;
    i += static_cast<std::size_t>(n);
  }
  return out;
}

/// len(re.split(r"\s+", s)): one more than the number of whitespace runs.
inline std::size_t count_split_whitespace(std::string_view s) {
  std::size_t runs = 0;
  bool in_run = false;
  std::size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                    static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    check(n > 0, "", "split", "invalid UTF-8 at byte {}", i);
    const bool sp = is_space(cp);
    if (sp && !in_run) ++runs;
    in_run = sp;
    i += static_cast<std::size_t>(n);
  }
  return runs + 1;
}

}  // namespace ptq::py
