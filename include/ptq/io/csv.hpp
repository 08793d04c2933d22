/// @file RFC 4180 CSV: comma-separated fields, double-quoted fields may hold commas, quotes ("") and
/// line breaks; rows end with \n or \r\n. Errors name the file and the line.
#pragma once

#include "ptq/core/status.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ptq {

struct CsvRow {
  std::size_t line = 0;             // 1-based line where the row starts
  std::vector<std::string> fields;
};

inline std::vector<CsvRow> parse_csv(std::string_view text, const std::string& file) {
  std::vector<CsvRow> rows;
  std::size_t i = 0, line = 1;
  while (i < text.size()) {
    CsvRow row{line, {}};
    std::string field;
    bool quoted = false, row_done = false;
    while (!row_done) {
      if (i == text.size()) { row.fields.push_back(std::move(field)); break; }
      const char c = text[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') { field += '"'; i += 2; continue; }
          quoted = false;
          ++i;
          check(i == text.size() || text[i] == ',' || text[i] == '\n' || text[i] == '\r', file,
                fmt::format("line {}", line), "text after a closing quote");
          continue;
        }
        if (c == '\n') ++line;
        field += c;
        ++i;
        continue;
      }
      if (c == '"' && field.empty()) { quoted = true; ++i; continue; }
      if (c == ',') { row.fields.push_back(std::move(field)); field.clear(); ++i; continue; }
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (text[i] == '\n') {
        row.fields.push_back(std::move(field));
        ++i;
        ++line;
        row_done = true;
        continue;
      }
      field += c;
      ++i;
    }
    check(!quoted, file, fmt::format("line {}", row.line), "unterminated quoted field");
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace ptq
