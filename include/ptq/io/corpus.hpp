/// @file Text corpora for calibration and perplexity: JSONL rows (Hugging Face datasets' "text" field) or raw text;
/// token id files (int32 little-endian, as `ptq tokenize` writes them).
#pragma once

#include "ptq/io/file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
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

/// A token id file: int32 little-endian ids, nothing else (`ptq tokenize --ids-out`).
inline std::vector<std::int32_t> read_token_ids(const fs::path& path) {
  const std::string bytes = read_text_file(path);
  check(bytes.size() % 4 == 0, path.string(), "", "{} bytes is not a whole number of int32 ids", bytes.size());
  std::vector<std::int32_t> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), bytes.size());
  return ids;
}

}  // namespace ptq
