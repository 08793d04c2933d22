/// @file WikiText-2 as the evaluation protocols read it.
///
/// - GPTQ protocol: the Hugging Face rows (test.jsonl "text") joined with "\n\n" (empty rows included).
/// - lm-eval `wikitext` task: pages of `EleutherAI/wikitext_document_level`, rebuilt from the raw file
///   (wiki.test.raw) by splitting on "\n" and starting a page at each line that, after collapsing "= = ="
///   and "= =", is a level-1 heading "= Title ="; pages are their lines joined with "\n", and blank ones
///   (the " " before the first title) are dropped: 62 test pages, 60 validation pages. The scored text
///   is `wikitext_detokenizer(page)`, a transcription of lm-eval's preprocess_wikitext.py (0.4.x).
#pragma once

#include "ptq/eval/text.hpp"
#include "ptq/io/corpus.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ptq {

/// Pages of a raw WikiText file (wiki.test.raw) as the document-level dataset has them.
inline std::vector<std::string> wikitext_pages(std::string_view raw) {
  auto is_title = [](std::string_view line) {
    std::string s = replace_all(replace_all(std::string(line), "= = =", "==="), "= =", "==");
    const auto b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
    if (b == std::string::npos) return false;
    const std::string_view t(s.data() + b, e - b + 1);
    return t.starts_with("= ") && t.ends_with(" =");
  };
  auto blank = [](const std::string& p) { return p.find_first_not_of(" \t\n\r\f\v") == std::string::npos; };
  std::vector<std::string> pages;
  std::string page;
  bool first = true;
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    std::size_t end = raw.find('\n', pos);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view line = raw.substr(pos, end - pos);
    pos = end + 1;
    if (is_title(line)) {  // a title closes the page before it; blank pages are dropped
      if (!blank(page)) pages.push_back(std::move(page));
      page.clear();
      first = true;
    }
    if (!first) page += '\n';
    page += line;
    first = false;
  }
  if (!blank(page)) pages.push_back(std::move(page));
  return pages;
}

/// lm-eval's wikitext_detokenizer (preprocess_wikitext.py), step by step.
inline std::string wikitext_detokenize(std::string s) {
  static const Regex slash_quote(R"(/' [0-9]/)", "wikitext_detokenizer");
  static const Regex parens(R"(\(\s*([^\)]*?)\s*\))", "wikitext_detokenizer");
  static const Regex brackets(R"(\[\s*([^\]]*?)\s*\])", "wikitext_detokenizer");
  static const Regex braces(R"(\{\s*([^}]*?)\s*\})", "wikitext_detokenizer");
  static const Regex dquotes(R"("\s*([^"]*?)\s*")", "wikitext_detokenizer");
  static const Regex squotes(R"('\s*([^']*?)\s*')", "wikitext_detokenizer");
  s = replace_all(std::move(s), "s '", "s'");
  s = slash_quote.replace_all(s, "/'[0-9]/");
  for (const auto& [from, to] : {std::pair{" @-@ ", "-"}, {" @,@ ", ","}, {" @.@ ", "."}, {" : ", ": "},
                                 {" ; ", "; "}, {" . ", ". "}, {" ! ", "! "}, {" ? ", "? "}, {" , ", ", "}})
    s = replace_all(std::move(s), from, to);
  s = parens.replace_all(s, "($1)");
  s = brackets.replace_all(s, "[$1]");
  s = braces.replace_all(s, "{$1}");
  s = dquotes.replace_all(s, "\"$1\"");
  s = squotes.replace_all(s, "'$1'");
  for (const auto& [from, to] : {std::pair{"= = = =", "===="}, {"= = =", "==="}, {"= =", "=="},
                                 {" \xc2\xb0 ", "\xc2\xb0"}, {" \n", "\n"}, {"\n ", "\n"}, {" N ", " 1 "},
                                 {" 's", "'s"}})
    s = replace_all(std::move(s), from, to);
  return s;
}

}  // namespace ptq
