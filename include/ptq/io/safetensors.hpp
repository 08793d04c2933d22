/// @file safetensors: a validating memory-mapped reader (single file or sharded) and an atomic writer.
///
/// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
/// optional "__metadata__" (string -> string), then the data. Validation follows the reference
/// implementation (huggingface/safetensors): header inside the file, valid JSON, known dtypes,
/// non-negative shapes, shape x dtype size == byte length, tensors tiling the data region in order
/// with no gap, overlap or trailing bytes. Every error names the file and the tensor.
///
///   ptq::SafetensorsFile f("model.safetensors");  const ptq::TensorRef& w = f.at("lm_head.weight");
///   ptq::TensorStore s = ptq::TensorStore::open("path/to/model");   // model.safetensors(.index.json)
#pragma once

#include "ptq/core/tensor.hpp"
#include "ptq/io/file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ptq {

/// Header lengths above this are rejected before allocating (the reference's limit is 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

/// One mapped .safetensors file with its validated tensor table.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const fs::path& path) : file_(path) { parse(); }

  [[nodiscard]] const std::string& path() const { return file_.path(); }
  [[nodiscard]] std::size_t size() const { return file_.size(); }
  [[nodiscard]] const std::vector<TensorRef>& tensors() const { return tensors_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }

  [[nodiscard]] const TensorRef* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  [[nodiscard]] const TensorRef& at(const std::string& name) const {
    const TensorRef* t = find(name);
    check(t != nullptr, path(), name, "tensor not found in file");
    return *t;
  }

 private:
  void parse();
  TensorRef parse_entry(const std::string& name, const nlohmann::json& e, std::uint64_t data_size,
                        std::uint64_t& begin, std::uint64_t& end) const;

  MappedFile file_;
  std::vector<TensorRef> tensors_;  // in data order
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

inline TensorRef SafetensorsFile::parse_entry(const std::string& name, const nlohmann::json& e,
                                              std::uint64_t data_size, std::uint64_t& begin,
                                              std::uint64_t& end) const {
  const std::string& p = path();
  check(e.is_object(), p, name, "header entry is not an object");
  check(e.contains("dtype") && e["dtype"].is_string(), p, name, "missing or non-string \"dtype\"");
  check(e.contains("shape") && e["shape"].is_array(), p, name, "missing or non-array \"shape\"");
  check(e.contains("data_offsets") && e["data_offsets"].is_array() && e["data_offsets"].size() == 2, p, name,
        "\"data_offsets\" must be an array [begin, end]");
  const auto dtype_str = e["dtype"].get<std::string>();
  const auto dtype = parse_dtype(dtype_str);
  check(dtype.has_value(), p, name, "unknown dtype \"{}\"", dtype_str);

  TensorRef t{name, *dtype, {}, nullptr};
  std::uint64_t bytes = dtype_size(*dtype);
  for (const auto& d : e["shape"]) {
    check(d.is_number_unsigned() || (d.is_number_integer() && d.get<std::int64_t>() >= 0), p, name,
          "shape {} has an entry that is not a non-negative integer", e["shape"].dump());
    const auto dim = d.get<std::uint64_t>();
    check(!__builtin_mul_overflow(bytes, dim, &bytes), p, name, "shape {} overflows", e["shape"].dump());
    t.shape.push_back(static_cast<std::int64_t>(dim));
  }
  const auto& off = e["data_offsets"];
  check(off[0].is_number_unsigned() && off[1].is_number_unsigned(), p, name,
        "data_offsets {} must be non-negative integers", off.dump());
  begin = off[0].get<std::uint64_t>();
  end = off[1].get<std::uint64_t>();
  check(begin <= end && end <= data_size, p, name,
        "data_offsets [{}, {}] out of range: the data section has {} bytes", begin, end, data_size);
  check(end - begin == bytes, p, name, "shape {} x {} needs {} bytes but data_offsets [{}, {}] give {}",
        shape_str(t.shape), dtype_str, bytes, begin, end, end - begin);
  return t;
}

inline void SafetensorsFile::parse() {
  const std::string& p = path();
  const auto bytes = file_.bytes();
  check(bytes.size() >= 8, p, "", "truncated: {} bytes, shorter than the 8-byte header length", bytes.size());
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(bytes[i]);
  check(n <= kMaxSafetensorsHeader, p, "", "header length {} exceeds the {} byte limit", n, kMaxSafetensorsHeader);
  check(n <= bytes.size() - 8, p, "", "header length {} runs past the end of the {}-byte file (truncated?)", n,
        bytes.size());
  const char* hdr = reinterpret_cast<const char*>(bytes.data() + 8);
  nlohmann::json header = nlohmann::json::parse(hdr, hdr + n, nullptr, /*allow_exceptions=*/false);
  check(!header.is_discarded(), p, "", "header is not valid JSON");
  check(header.is_object(), p, "", "header is not a JSON object");

  const std::uint64_t data_size = bytes.size() - 8 - n;
  const std::byte* data = bytes.data() + 8 + n;
  struct Span { std::uint64_t begin, end; std::size_t tensor; };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      check(entry.is_object(), p, name, "must be an object of strings");
      for (const auto& [k, v] : entry.items()) {
        check(v.is_string(), p, "__metadata__." + k, "value is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    std::uint64_t b = 0, e = 0;
    tensors_.push_back(parse_entry(name, entry, data_size, b, e));
    spans.push_back({b, e, tensors_.size() - 1});
  }
  // Tensors must tile the data section: sorted by offset, each starts where the previous ended.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  for (const Span& s : spans) {
    const std::string& name = tensors_[s.tensor].name;
    check(s.begin >= cursor, p, name, "data_offsets [{}, {}] overlap the previous tensor (which ends at {})",
          s.begin, s.end, cursor);
    check(s.begin == cursor, p, name, "data_offsets [{}, {}] leave a gap of {} bytes after the previous tensor",
          s.begin, s.end, s.begin - cursor);
    cursor = s.end;
  }
  check(cursor == data_size, p, "", "{} bytes after the last tensor are not described by the header",
        data_size - cursor);

  std::vector<TensorRef> ordered;
  ordered.reserve(spans.size());
  for (const Span& s : spans) {
    ordered.push_back(std::move(tensors_[s.tensor]));
    ordered.back().data = data + s.begin;
  }
  tensors_ = std::move(ordered);
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

/// All tensors of a model folder: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json` ("weight_map": name -> shard file).
class TensorStore {
 public:
  static TensorStore open(const fs::path& dir) {
    TensorStore s;
    s.dir_ = dir.string();
    const fs::path index = dir / "model.safetensors.index.json";
    const fs::path single = dir / "model.safetensors";
    if (fs::exists(index)) {
      s.open_sharded(index);
    } else {
      check(fs::exists(single), s.dir_, "", "no model.safetensors or model.safetensors.index.json");
      s.files_.push_back(std::make_unique<SafetensorsFile>(single));
      for (const auto& t : s.files_.back()->tensors()) s.where_[t.name] = {0, t.name};
    }
    return s;
  }

  /// The tensor, or nullptr when the model does not have it (optional tensors such as lm_head).
  [[nodiscard]] const TensorRef* find(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second.file]->find(name);
  }
  [[nodiscard]] const TensorRef& at(const std::string& name) const {
    const TensorRef* t = find(name);
    check(t != nullptr, dir_, name, "tensor missing from the checkpoint{}",
          files_.size() > 1 ? " (not in model.safetensors.index.json)" : "");
    return *t;
  }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  /// Bytes of all the checkpoint's files.
  [[nodiscard]] std::size_t total_bytes() const {
    std::size_t n = 0;
    for (const auto& f : files_) n += f->size();
    return n;
  }
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, _] : where_) out.push_back(n);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct Where { std::size_t file; std::string name; };

  void open_sharded(const fs::path& index) {
    const std::string ip = index.string();
    auto j = nlohmann::json::parse(read_text_file(index), nullptr, false);
    check(!j.is_discarded() && j.is_object(), ip, "", "not a valid JSON object");
    check(j.contains("weight_map") && j["weight_map"].is_object(), ip, "weight_map", "missing or not an object");
    std::map<std::string, std::size_t> shard_ids;
    for (const auto& [name, shard] : j["weight_map"].items()) {
      check(shard.is_string(), ip, name, "shard name is not a string");
      const auto file = shard.get<std::string>();
      check(file.find('/') == std::string::npos && file != ".." , ip, name, "shard \"{}\" is not a file name", file);
      auto [it, added] = shard_ids.emplace(file, files_.size());
      if (added) {
        check(fs::exists(index.parent_path() / file), ip, name, "shard file \"{}\" does not exist", file);
        files_.push_back(std::make_unique<SafetensorsFile>(index.parent_path() / file));
      }
      check(files_[it->second]->find(name) != nullptr, ip, name, "the index puts it in \"{}\", which lacks it", file);
      where_[name] = {it->second, name};
    }
  }

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, Where> where_;
};

/// A tensor to write: its name, dtype, shape and bytes (numel x dtype size).
struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  std::span<const std::byte> bytes;
};

/// Writes a .safetensors file atomically (temporary file, then rename). Tensors are laid out in name
/// order; the header is padded with spaces to a multiple of 8 bytes as the reference writer does.
inline void write_safetensors(const fs::path& path, std::vector<TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const auto need = static_cast<std::uint64_t>(numel(t.shape)) * dtype_size(t.dtype);
    check(need == t.bytes.size(), path.string(), t.name, "shape {} x {} needs {} bytes, got {}", shape_str(t.shape),
          dtype_name(t.dtype), need, t.bytes.size());
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + need}}};
    offset += need;
  }
  std::string h = header.dump();
  h.resize((h.size() + 7) / 8 * 8, ' ');
  write_file_atomic(path, [&](std::ostream& out) {
    std::uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : tensors)
      out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  });
}

/// Writes `tensors` into the folder `dir`: model.safetensors, or, when they hold more than `max_shard_bytes`,
/// Hugging Face's sharded layout (model-0000i-of-0000n.safetensors in name order, and
/// model.safetensors.index.json mapping each tensor to its shard). Every file is written atomically.
inline void write_sharded(const fs::path& dir, std::vector<TensorToWrite> tensors,
                          const std::map<std::string, std::string>& metadata, std::uint64_t max_shard_bytes) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::vector<TensorToWrite>> shards(1);
  std::uint64_t in_shard = 0, total = 0;
  for (auto& t : tensors) {
    if (in_shard > 0 && in_shard + t.bytes.size() > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    in_shard += t.bytes.size();
    total += t.bytes.size();
    shards.back().push_back(std::move(t));
  }
  if (shards.size() == 1) {
    write_safetensors(dir / "model.safetensors", std::move(shards.front()), metadata);
    return;
  }
  nlohmann::ordered_json index{{"metadata", {{"total_size", total}}}, {"weight_map", nlohmann::ordered_json::object()}};
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string file = fmt::format("model-{:05}-of-{:05}.safetensors", i + 1, shards.size());
    for (const auto& t : shards[i]) index["weight_map"][t.name] = file;
    write_safetensors(dir / file, std::move(shards[i]), metadata);
  }
  write_file_atomic(dir / "model.safetensors.index.json", [&](std::ostream& o) { o << index.dump(2) << "\n"; });
}

}  // namespace ptq
