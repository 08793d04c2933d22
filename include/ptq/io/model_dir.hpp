/// @file Where a Hugging Face model lives: a model folder, or a cache entry resolved to its snapshot.
#pragma once

#include "ptq/io/file.hpp"

#include <cctype>
#include <string>

namespace ptq {

/// Accepts a model folder (config.json inside) or a Hugging Face cache entry
/// (`models--Org--Name/` with `refs/main` and `snapshots/<hash>/`), and returns the folder to read.
inline fs::path resolve_model_dir(const fs::path& path) {
  check(fs::is_directory(path), path.string(), "", "model path is not a folder");
  if (fs::exists(path / "config.json")) return path;
  const fs::path snapshots = path / "snapshots";
  if (fs::is_directory(snapshots)) {
    if (fs::exists(path / "refs" / "main")) {
      std::string hash = read_text_file(path / "refs" / "main");
      while (!hash.empty() && std::isspace(static_cast<unsigned char>(hash.back()))) hash.pop_back();
      if (fs::exists(snapshots / hash / "config.json")) return snapshots / hash;
    }
    for (const auto& e : fs::directory_iterator(snapshots))
      if (fs::exists(e.path() / "config.json")) return e.path();
  }
  throw Error(path.string(), "config.json", "not found (neither a model folder nor a Hugging Face cache entry)");
}

}  // namespace ptq
