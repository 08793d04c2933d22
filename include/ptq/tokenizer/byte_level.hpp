/// @file GPT-2 byte-level alphabet: each byte maps to one printable code point, so any byte string is
/// a string of vocabulary characters. Bytes 33..126, 161..172 and 174..255 map to themselves; the other
/// 68 (controls, space, 127..160, 173) map to U+0100.. in byte order. Ġ (U+0120) is the space byte.
#pragma once

#include "ptq/tokenizer/unicode.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace ptq {

struct ByteLevelAlphabet {
  std::array<std::uint32_t, 256> code_point{};     // byte -> code point
  std::array<std::string, 256> utf8;               // byte -> that code point in UTF-8
  std::unordered_map<std::uint32_t, std::uint8_t> byte_of;  // code point -> byte

  ByteLevelAlphabet() {
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      code_point[b] = printable ? b : next++;
      append_utf8(utf8[b], code_point[b]);
      byte_of[code_point[b]] = static_cast<std::uint8_t>(b);
    }
  }
};

inline const ByteLevelAlphabet& byte_level() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

/// Replaces each maximal invalid UTF-8 subpart with U+FFFD, as Rust's String::from_utf8_lossy (which
/// the reference's ByteLevel decoder uses) does.
inline std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    const unsigned char c = byte(i);
    std::size_t len = 0;  // expected length; valid second-byte range per the Unicode table
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) len = 1;
    else if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) { len = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    std::size_t k = 1;  // bytes of a valid prefix consumed
    if (len > 1) {
      for (; k < len && i + k < s.size(); ++k) {
        const unsigned char b = byte(i + k);
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) break;
      }
    }
    if (len != 0 && k == len) out.append(s.substr(i, len));
    else out += "\xef\xbf\xbd";
    i += std::max<std::size_t>(k, 1);
  }
  return out;
}

}  // namespace ptq
