/// @file UTF-8 validation and NFC normalization (utf8proc).
///
/// Input text must be valid UTF-8: the reference (Hugging Face tokenizers) only ever sees Python str,
/// which cannot hold invalid byte sequences, and Python refuses to encode lone surrogates. So ptq rejects
/// invalid UTF-8, including encoded surrogates (U+D800..U+DFFF) and overlong forms, with an error that
/// gives the byte offset, instead of guessing a replacement.
#pragma once

#include "ptq/core/status.hpp"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ptq {

/// Byte offset of the first invalid UTF-8 sequence, or nullopt when `s` is valid.
inline std::optional<std::size_t> find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto n = s.size();
  while (i < n) {
    utf8proc_int32_t cp;
    const auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                      static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (len <= 0) return i;  // utf8proc rejects overlongs, surrogates and values past U+10FFFF
    i += static_cast<std::size_t>(len);
  }
  return std::nullopt;
}

/// Throws naming `source` and the byte offset when `s` is not valid UTF-8.
inline void require_utf8(std::string_view s, const std::string& source) {
  if (const auto bad = find_invalid_utf8(s))
    throw Error(source, "", fmt::format("invalid UTF-8 at byte {} (0x{:02x}); input text must be UTF-8", *bad,
                                        static_cast<unsigned char>(s[*bad])));
}

/// True when every byte is ASCII (then NFC is the identity and can be skipped).
inline bool is_ascii(std::string_view s) {
  for (char c : s) if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

/// Unicode NFC of valid UTF-8 text.
inline std::string nfc(std::string_view s) {
  if (is_ascii(s)) return std::string(s);
  utf8proc_uint8_t* out = nullptr;
  const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                static_cast<utf8proc_ssize_t>(s.size()), &out,
                                static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  check(len >= 0, "", "nfc", "{}", utf8proc_errmsg(len));
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
}

/// Appends the UTF-8 encoding of code point cp.
inline void append_utf8(std::string& out, std::uint32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

}  // namespace ptq
