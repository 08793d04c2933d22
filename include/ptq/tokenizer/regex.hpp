/// @file A compiled PCRE2 pattern (UTF, Unicode properties, JIT) that splits text the way the
/// Hugging Face `Split` pre-tokenizer with behavior "Isolated" does: every match is a piece, and so is
/// every stretch of text between matches; it also matches names as Python's re.match does (a checkpoint's
/// per-module "dynamic" rules).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include "ptq/core/status.hpp"

#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ptq {

class Regex {
 public:
  /// Compiles `pattern` (Oniguruma/PCRE syntax as written in tokenizer.json); `source` and `field` name it in errors.
  Regex(const std::string& pattern, const std::string& source, const std::string& field = "pre_tokenizer.pattern") {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr));
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error(source, field,
                  fmt::format("regex does not compile at offset {}: {}", offset, reinterpret_cast<char*>(msg)));
    }
    jit_ = pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE) == 0;
  }

  /// Whether the pattern matches at the start of `text` (Python's re.match: anchored there, not at the end).
  [[nodiscard]] bool matches_at_start(std::string_view text) const {
    const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), &pcre2_match_data_free);
    const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                               PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md.get(), nullptr);
    check(rc >= 0 || rc == PCRE2_ERROR_NOMATCH, "", "regex", "match failed with PCRE2 code {}", rc);
    return rc >= 0;
  }

  /// Every match replaced by `replacement`, where $1.. name groups (Python re.sub with \\1..).
  [[nodiscard]] std::string replace_all(const std::string& text, const std::string& replacement) const {
    std::string out(text.size() + 64, '\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
      PCRE2_SIZE len = out.size();
      const int rc = pcre2_substitute(
          code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
          PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | PCRE2_NO_UTF_CHECK, nullptr, nullptr,
          reinterpret_cast<PCRE2_SPTR>(replacement.data()), replacement.size(),
          reinterpret_cast<PCRE2_UCHAR*>(out.data()), &len);
      if (rc == PCRE2_ERROR_NOMEMORY) { out.resize(len); continue; }  // len is the size needed
      check(rc >= 0, "", "regex", "substitution failed with PCRE2 code {}", rc);
      out.resize(len);
      return out;
    }
    throw Error("", "regex", "substitution output size changed between attempts");
  }

  /// Appends to `out` the pieces of `text` (views into it), matches and gaps in order.
  void split_isolated(std::string_view text, std::vector<std::string_view>& out) const {
    thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t pos = 0, last = 0;
    while (pos <= text.size()) {
      const int rc = jit_ ? pcre2_jit_match(code_.get(), subject, text.size(), pos, 0, md.get(), nullptr)
                          : pcre2_match(code_.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      check(rc >= 0, "", "pre_tokenizer", "regex match failed with PCRE2 code {}", rc);
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const std::size_t b = ov[0], e = ov[1];
      if (b > last) out.push_back(text.substr(last, b - last));
      if (e > b) {
        out.push_back(text.substr(b, e - b));
        pos = e;
      } else {  // empty match: step one code point so the scan always advances
        pos = b + 1;
        while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xc0) == 0x80) ++pos;
        continue;
      }
      last = e;
    }
    if (last < text.size()) out.push_back(text.substr(last));
  }

 private:
  struct Free { void operator()(pcre2_code* c) const { pcre2_code_free(c); } };
  std::unique_ptr<pcre2_code, Free> code_;
  bool jit_ = false;
};

}  // namespace ptq
