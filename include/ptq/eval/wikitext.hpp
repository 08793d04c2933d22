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
#include "ptq/io/file.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ptq {

/// Reads the "text" field of every row of a JSONL file, in order (errors name the file and line).
inline std::vector<std::string> read_jsonl_field(const fs::path& path, const std::string& field) {
  std::vector<std::string> rows;
  for_each_line(read_text_file(path), [&](std::size_t line, std::string_view row) {
    if (row.find_first_not_of(" \t\r") == std::string_view::npos) return;
    const auto j = nlohmann::json::parse(row, nullptr, false);
    check(!j.is_discarded() && j.is_object(), path.string(), fmt::format("line {}", line), "not a JSON object");
    check(j.contains(field) && j[field].is_string(), path.string(), fmt::format("line {}", line),
          "missing string field \"{}\"", field);
    rows.push_back(j[field].get<std::string>());
  });
  return rows;
}

/// The GPTQ-protocol text: rows joined with "\n\n".
inline std::string join_rows(const std::vector<std::string>& rows, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) out += sep;
    out += rows[i];
  }
  return out;
}

/// Text for calibration or perplexity: a JSONL file's "text" rows joined with "\n\n", or a raw text file.
inline std::string read_corpus(const fs::path& path) {
  return path.extension() == ".jsonl" ? join_rows(read_jsonl_field(path, "text"), "\n\n") : read_text_file(path);
}

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
