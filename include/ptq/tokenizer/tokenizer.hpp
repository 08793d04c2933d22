/// @file Byte-level BPE tokenizer for Qwen2 / Qwen2.5 / Qwen3 (and GPT-2 style) tokenizer files,
/// producing exactly the ids of Hugging Face `tokenizers`.
///
///   auto tok = ptq::Tokenizer::load("../shared/tokenizer/qwen2.5");   // tokenizer.json, or vocab.json + merges.txt
///   std::vector<std::int32_t> ids = tok.encode("Hello world");       // {9707, 1879}; no BOS/EOS added
///
/// Pipeline (as the reference): split out added tokens (leftmost-longest, honouring lstrip / rstrip /
/// single_word) -> NFC -> the pre-tokenizer regex (Split, "Isolated") -> byte-level alphabet -> BPE by
/// merge rank (lowest rank first, leftmost on ties) -> ids. Decoding inverts the byte-level mapping and
/// replaces invalid UTF-8 with U+FFFD like the reference's ByteLevel decoder.
/// Limitations: input must be valid UTF-8 (see unicode.hpp); added tokens flagged `normalized` are
/// matched on the raw text (Qwen's are all unnormalized); BPE dropout, byte fallback and word
/// prefixes/suffixes are refused at load.
#pragma once

#include "ptq/io/file.hpp"
#include "ptq/io/json_fields.hpp"
#include "ptq/tokenizer/byte_level.hpp"
#include "ptq/tokenizer/regex.hpp"
#include "ptq/tokenizer/unicode.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ptq {

/// The Qwen2 pre-tokenizer regex (transformers' Qwen2Tokenizer PRETOKENIZE_REGEX), used when loading
/// vocab.json + merges.txt, which do not carry one.
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
/// GPT-2's, used by a ByteLevel pre-tokenizer with use_regex: true.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct AddedToken {
  std::int32_t id = 0;
  std::string content;
  bool special = false;      // skipped by decode(..., skip_special = true)
  bool lstrip = false;       // absorbs whitespace on its left
  bool rstrip = false;       // absorbs whitespace on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // (matched on raw text here; see Limitations)
};

class Tokenizer {
 public:
  /// A folder with tokenizer.json, or vocab.json + merges.txt (+ tokenizer_config.json), or a
  /// tokenizer.json file.
  static Tokenizer load(const fs::path& path) {
    if (fs::is_regular_file(path)) return from_tokenizer_json(read_text_file(path), path.string());
    check(fs::is_directory(path), path.string(), "", "no such tokenizer file or folder");
    Tokenizer t;
    if (fs::exists(path / "tokenizer.json")) {
      t = from_tokenizer_json(read_text_file(path / "tokenizer.json"), (path / "tokenizer.json").string());
    } else {
      check(fs::exists(path / "vocab.json") && fs::exists(path / "merges.txt"), path.string(), "",
            "no tokenizer.json, and no vocab.json + merges.txt");
      t = from_vocab_merges(path);
    }
    if (fs::exists(path / "tokenizer_config.json")) t.read_special_tokens(path / "tokenizer_config.json");
    return t;
  }

  /// BOS / EOS ids named by tokenizer_config.json ("bos_token", "eos_token"); nullopt when not named
  /// (Qwen2.5 has no BOS). lm-eval conditions rolling windows and empty contexts on BOS, else EOS.
  [[nodiscard]] std::optional<std::int32_t> bos_id() const { return bos_; }
  [[nodiscard]] std::optional<std::int32_t> eos_id() const { return eos_; }

  static Tokenizer from_tokenizer_json(const std::string& text, const std::string& source);
  static Tokenizer from_vocab_merges(const fs::path& dir);

  /// Token ids of UTF-8 text; added tokens in the text are recognised. No BOS/EOS is added.
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const {
    require_utf8(text, "encode");
    std::vector<std::int32_t> ids;
    ids.reserve(text.size() / 3 + 1);
    for_each_segment(text, [&](std::string_view segment, const AddedToken* added) {
      if (added) ids.push_back(added->id);
      else encode_ordinary(segment, ids);
    });
    return ids;
  }

  /// Text of ids (added tokens as their content unless skip_special and special).
  [[nodiscard]] std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const {
    std::string bytes, out;
    const auto& alphabet = byte_level();
    auto flush = [&] { out += utf8_lossy(bytes); bytes.clear(); };
    for (const std::int32_t id : ids) {
      check(id >= 0 && static_cast<std::size_t>(id) < id_to_token_.size() && has_token_[id], "", "decode",
            "token id {} is not in the vocabulary", id);
      if (const AddedToken* a = added_by_id(id)) {
        flush();
        if (!(skip_special && a->special)) out += a->content;
        continue;
      }
      const std::string& tok = id_to_token_[id];
      for (std::size_t i = 0; i < tok.size();) {
        utf8proc_int32_t cp;
        const auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(tok.data() + i),
                                          static_cast<utf8proc_ssize_t>(tok.size() - i), &cp);
        const auto it = alphabet.byte_of.find(static_cast<std::uint32_t>(cp));
        check(len > 0 && it != alphabet.byte_of.end(), "", "decode", "token {} is not byte-level", id);
        bytes.push_back(static_cast<char>(it->second));
        i += static_cast<std::size_t>(len);
      }
    }
    flush();
    return out;
  }

  /// Number of ids (regular vocabulary and added tokens; the model's embedding may have more rows).
  [[nodiscard]] std::size_t size() const { return id_to_token_.size(); }
  [[nodiscard]] std::optional<std::int32_t> token_to_id(std::string_view token) const {
    const auto it = vocab_.find(std::string(token));
    if (it != vocab_.end()) return it->second;
    for (const auto& a : added_) if (a.content == token) return a.id;
    return std::nullopt;
  }
  [[nodiscard]] const std::vector<AddedToken>& added_tokens() const { return added_; }

 private:
  struct Merge { std::int32_t rank; std::int32_t result; };
  static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }

  void read_special_tokens(const fs::path& config) {
    const auto cfg = nlohmann::json::parse(read_text_file(config), nullptr, false);
    check(!cfg.is_discarded() && cfg.is_object(), config.string(), "", "not valid JSON");
    auto id_of = [&](const char* key) -> std::optional<std::int32_t> {
      if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
      const auto& v = cfg[key];
      const auto content =
          v.is_string() ? v.get<std::string>() : detail::config_field<std::string>(v, config.string(), "content", "", key);
      const auto id = token_to_id(content);
      check(id.has_value(), config.string(), key, "\"{}\" is not a token of this tokenizer", content);
      return id;
    };
    bos_ = id_of("bos_token");
    eos_ = id_of("eos_token");
  }
  void add_vocab(std::string token, std::int32_t id, const std::string& source);
  void add_merge(std::string_view left, std::string_view right, std::int32_t rank, const std::string& source);
  void add_added_token(AddedToken a, const std::string& source);
  void finish(const std::string& source);

  [[nodiscard]] const AddedToken* added_by_id(std::int32_t id) const {
    const auto it = added_index_.find(id);
    return it == added_index_.end() ? nullptr : &added_[it->second];
  }

  /// Calls f(text, nullptr) for ordinary stretches and f(match, &token) for added tokens, in order.
  template <class F>
  void for_each_segment(std::string_view text, F&& f) const;
  void encode_ordinary(std::string_view text, std::vector<std::int32_t>& ids) const;
  void bpe(std::string_view piece, std::vector<std::int32_t>& ids) const;

  std::unordered_map<std::string, std::int32_t> vocab_;  // token (byte-level alphabet) -> id
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  std::unordered_map<std::uint64_t, Merge> merges_;      // (left id, right id) -> rank, merged id
  std::array<std::int32_t, 256> byte_id_{};             // byte -> id of its one-character token
  std::vector<AddedToken> added_;                        // longest content first
  std::unordered_map<std::int32_t, std::size_t> added_index_;
  bool nfc_ = false;
  std::optional<Regex> regex_;
  std::optional<std::int32_t> bos_, eos_;
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::int32_t>> ids;  // piece -> ids
  };
  std::unique_ptr<Cache> cache_ = std::make_unique<Cache>();  // shared by const encode() calls
};

// ---------------------------------------------------------------------------------------------------
// Loading

inline void Tokenizer::add_vocab(std::string token, std::int32_t id, const std::string& source) {
  check(id >= 0 && id < (1 << 24), source, "model.vocab", "token \"{}\" has id {} out of range", token, id);
  if (static_cast<std::size_t>(id) >= id_to_token_.size()) {
    id_to_token_.resize(static_cast<std::size_t>(id) + 1);
    has_token_.resize(static_cast<std::size_t>(id) + 1, false);
  }
  check(!has_token_[id], source, "model.vocab", "id {} is given to two tokens", id);
  id_to_token_[id] = token;
  has_token_[id] = true;
  vocab_.emplace(std::move(token), id);
}

inline void Tokenizer::add_merge(std::string_view left, std::string_view right, std::int32_t rank,
                                 const std::string& source) {
  const auto item = fmt::format("model.merges[{}]", rank);
  const auto l = vocab_.find(std::string(left)), r = vocab_.find(std::string(right));
  check(l != vocab_.end(), source, item, "\"{} {}\" names unknown token \"{}\"", left, right, left);
  check(r != vocab_.end(), source, item, "\"{} {}\" names unknown token \"{}\"", left, right, right);
  const auto m = vocab_.find(std::string(left) + std::string(right));
  check(m != vocab_.end(), source, item, "\"{} {}\" merges to \"{}{}\", which is not in the vocabulary", left,
        right, left, right);
  merges_.emplace(pair_key(l->second, r->second), Merge{rank, m->second});  // first (lowest rank) wins
}

inline void Tokenizer::add_added_token(AddedToken a, const std::string& source) {
  check(!a.content.empty(), source, "added_tokens", "token {} has empty content", a.id);
  if (static_cast<std::size_t>(a.id) >= id_to_token_.size()) {
    id_to_token_.resize(static_cast<std::size_t>(a.id) + 1);
    has_token_.resize(static_cast<std::size_t>(a.id) + 1, false);
  }
  id_to_token_[a.id] = a.content;
  has_token_[a.id] = true;
  added_.push_back(std::move(a));
}

inline void Tokenizer::finish(const std::string& source) {
  check(!vocab_.empty(), source, "model.vocab", "the vocabulary is empty");
  const auto& alphabet = byte_level();
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(alphabet.utf8[b]);
    check(it != vocab_.end(), source, "model.vocab", "no token for byte 0x{:02x} (\"{}\"): not a byte-level BPE vocabulary",
          b, alphabet.utf8[b]);
    byte_id_[b] = it->second;
  }
  std::stable_sort(added_.begin(), added_.end(),
                   [](const AddedToken& x, const AddedToken& y) { return x.content.size() > y.content.size(); });
  for (std::size_t i = 0; i < added_.size(); ++i) added_index_[added_[i].id] = i;
}

namespace detail {
inline const nlohmann::json& json_member(const nlohmann::json& j, const char* key, const std::string& source,
                                         const std::string& where) {
  check(j.is_object() && j.contains(key), source, where, "missing \"{}\"", key);
  return j[key];
}
/// An added token's flags from its JSON entry (tokenizer.json's added_tokens, tokenizer_config.json's
/// added_tokens_decoder); absent flags are false.
inline AddedToken added_token(const nlohmann::json& a, std::int32_t id, std::string content, const std::string& source,
                              std::string_view where) {
  auto flag = [&](const char* key) { return config_field<bool>(a, source, key, false, where); };
  return {id, std::move(content), flag("special"), flag("lstrip"), flag("rstrip"), flag("single_word"),
          flag("normalized")};
}
}  // namespace detail

inline Tokenizer Tokenizer::from_tokenizer_json(const std::string& text, const std::string& source) {
  using detail::json_member;
  // Optional fields through config_field: one of the wrong type is an error naming it, not nlohmann's type_error.
  auto field = [&]<class T>(const nlohmann::json& o, const char* key, T fallback, std::string_view where) {
    return detail::config_field<T>(o, source, key, fallback, where);
  };
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  check(!j.is_discarded(), source, "", "not valid JSON (truncated or corrupt?)");
  check(j.is_object(), source, "", "not a JSON object");
  Tokenizer t;

  const auto& model = json_member(j, "model", source, "");
  const auto type = field(model, "type", std::string("BPE"), "model");
  check(type == "BPE", source, "model.type", "only BPE is supported, got {}", type);
  check(!field(model, "byte_fallback", false, "model"), source, "model.byte_fallback", "byte fallback is not supported");
  check(!model.contains("dropout") || model["dropout"].is_null(), source, "model.dropout", "BPE dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    check(field(model, key, std::string(), "model").empty(), source, fmt::format("model.{}", key), "is not supported");
  const auto& vocab = json_member(model, "vocab", source, "model");
  check(vocab.is_object(), source, "model.vocab", "expected an object token -> id");
  for (const auto& [tok, id] : vocab.items()) {
    check(id.is_number_integer() && detail::fits_integer<std::int32_t>(id), source, "model.vocab",
          "token \"{}\" has a non-integer or out-of-range id {}", tok, id.dump());
    t.add_vocab(tok, id.get<std::int32_t>(), source);
  }
  check(!t.vocab_.empty(), source, "model.vocab", "the vocabulary is empty");
  const auto& merges = json_member(model, "merges", source, "model");
  check(merges.is_array(), source, "model.merges", "expected an array");
  std::int32_t rank = 0;
  for (const auto& m : merges) {
    if (m.is_string()) {  // "left right"
      const auto s = m.get<std::string>();
      const auto space = s.find(' ');
      check(space != std::string::npos && space > 0 && space + 1 < s.size(), source,
            fmt::format("model.merges[{}]", rank), "\"{}\" is not \"left right\"", s);
      t.add_merge(std::string_view(s).substr(0, space), std::string_view(s).substr(space + 1), rank, source);
    } else {  // ["left", "right"] (tokenizers >= 0.20)
      check(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), source,
            fmt::format("model.merges[{}]", rank), "expected \"left right\" or [left, right], got {}", m.dump());
      t.add_merge(m[0].get<std::string>(), m[1].get<std::string>(), rank, source);
    }
    ++rank;
  }

  // normalizer: null, NFC, or a Sequence of NFC.
  const auto norm = j.value("normalizer", nlohmann::json());
  auto check_norm = [&](const nlohmann::json& n) {
    const auto type = field(n, "type", std::string(), "normalizer");
    check(type == "NFC", source, "normalizer", "type \"{}\" is not supported (NFC or none)", type);
    t.nfc_ = true;
  };
  if (!norm.is_null()) {
    if (field(norm, "type", std::string(), "normalizer") == "Sequence") {
      for (const auto& n : json_member(norm, "normalizers", source, "normalizer")) check_norm(n);
    } else {
      check_norm(norm);
    }
  }

  // pre_tokenizer: Sequence[Split(regex, Isolated), ByteLevel(use_regex false)] or ByteLevel(use_regex true).
  const auto& pre = json_member(j, "pre_tokenizer", source, "");
  std::vector<nlohmann::json> steps;
  if (field(pre, "type", std::string(), "pre_tokenizer") == "Sequence") {
    for (const auto& s : json_member(pre, "pretokenizers", source, "pre_tokenizer")) steps.push_back(s);
  } else {
    steps.push_back(pre);
  }
  bool byte_level_seen = false;
  for (const auto& s : steps) {
    const auto type = field(s, "type", std::string(), "pre_tokenizer");
    if (type == "Split") {
      check(!t.regex_, source, "pre_tokenizer", "more than one Split is not supported");
      check(field(s, "behavior", std::string(), "pre_tokenizer.Split") == "Isolated" &&
                !field(s, "invert", false, "pre_tokenizer.Split"),
            source,
            "pre_tokenizer.Split", "only behavior Isolated without invert is supported");
      const auto& pattern = json_member(s, "pattern", source, "pre_tokenizer.Split");
      check(pattern.contains("Regex") && pattern["Regex"].is_string(), source, "pre_tokenizer.Split.pattern",
            "expected {{\"Regex\": \"...\"}}");
      t.regex_.emplace(pattern["Regex"].get<std::string>(), source);
    } else if (type == "ByteLevel") {
      check(!field(s, "add_prefix_space", false, "pre_tokenizer.ByteLevel"), source, "pre_tokenizer.ByteLevel",
            "add_prefix_space is not supported");
      if (field(s, "use_regex", true, "pre_tokenizer.ByteLevel")) {
        check(!t.regex_, source, "pre_tokenizer.ByteLevel", "use_regex after a Split is not supported");
        t.regex_.emplace(std::string(kGpt2Pattern), source);
      }
      byte_level_seen = true;
    } else {
      throw Error(source, "pre_tokenizer", fmt::format("type \"{}\" is not supported", type));
    }
  }
  check(byte_level_seen, source, "pre_tokenizer", "a ByteLevel step is required");

  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    check(j["added_tokens"].is_array(), source, "added_tokens", "expected an array");
    for (const auto& a : j["added_tokens"]) {
      check(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                a["content"].is_string(),
            source, "added_tokens", "entry {} lacks an integer id or a string content", a.dump());
      const auto id = field(a, "id", std::int64_t{0}, "added_tokens");
      check(id >= 0 && id < (1 << 24), source, "added_tokens", "id {} out of range", id);
      auto tok = detail::added_token(a, static_cast<std::int32_t>(id), a["content"].get<std::string>(), source,
                                     "added_tokens");
      // An added token that is also a regular token keeps its regular id (the reference does the same).
      t.add_added_token(std::move(tok), source);
    }
  }
  t.finish(source);
  return t;
}

inline Tokenizer Tokenizer::from_vocab_merges(const fs::path& dir) {
  const std::string vsrc = (dir / "vocab.json").string(), msrc = (dir / "merges.txt").string();
  const auto vocab = nlohmann::json::parse(read_text_file(dir / "vocab.json"), nullptr, false);
  check(!vocab.is_discarded() && vocab.is_object(), vsrc, "", "not a JSON object token -> id");
  Tokenizer t;
  for (const auto& [tok, id] : vocab.items()) {
    check(id.is_number_integer() && detail::fits_integer<std::int32_t>(id), vsrc, tok, "non-integer or out-of-range id {}",
          id.dump());
    t.add_vocab(tok, id.get<std::int32_t>(), vsrc);
  }
  std::int32_t rank = 0;
  for_each_line(read_text_file(dir / "merges.txt"), [&](std::size_t line_no, std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.starts_with("#version")) return;
    const auto space = line.find(' ');
    check(space != std::string_view::npos && space > 0, msrc, fmt::format("line {}", line_no),
          "\"{}\" is not \"left right\"", line);
    t.add_merge(line.substr(0, space), line.substr(space + 1), rank++, msrc);
  });
  t.nfc_ = true;
  t.regex_.emplace(std::string(kQwen2Pattern), msrc);
  if (fs::exists(dir / "tokenizer_config.json")) {
    const std::string csrc = (dir / "tokenizer_config.json").string();
    const auto cfg = nlohmann::json::parse(read_text_file(dir / "tokenizer_config.json"), nullptr, false);
    check(!cfg.is_discarded() && cfg.is_object(), csrc, "", "not valid JSON");
    if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
      for (const auto& [id, a] : cfg["added_tokens_decoder"].items()) {
        check(a.is_object() && a.contains("content") && a["content"].is_string(), csrc, "added_tokens_decoder." + id,
              "lacks a string content");
        std::int32_t n = 0;
        const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
        check(ec == std::errc() && p == id.data() + id.size() && n >= 0 && n < (1 << 24), csrc,
              "added_tokens_decoder." + id, "key is not a token id");
        t.add_added_token(detail::added_token(a, n, a["content"].get<std::string>(), csrc, "added_tokens_decoder." + id),
                          csrc);
      }
    }
  }
  t.finish(vsrc);
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Encoding

namespace detail {
inline bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
/// Word character for single_word: ASCII alphanumerics/underscore or any non-ASCII byte (letters of
/// other scripts); the reference uses Unicode alphanumerics.
inline bool is_word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) || c == '_';
}
}  // namespace detail

template <class F>
void Tokenizer::for_each_segment(std::string_view text, F&& f) const {
  std::size_t start = 0;  // start of the pending ordinary stretch
  std::size_t i = 0;
  while (i < text.size() && !added_.empty()) {
    const AddedToken* hit = nullptr;
    for (const AddedToken& a : added_) {  // longest first: leftmost-longest at position i
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      const std::size_t end = i + a.content.size();
      if (a.single_word && ((i > 0 && detail::is_word_byte(text[i - 1])) ||
                            (end < text.size() && detail::is_word_byte(text[end]))))
        continue;
      hit = &a;
      break;
    }
    if (!hit) { ++i; continue; }
    std::size_t b = i, e = i + hit->content.size();
    if (hit->lstrip) while (b > start && detail::is_space_byte(text[b - 1])) --b;
    if (hit->rstrip) while (e < text.size() && detail::is_space_byte(text[e])) ++e;
    if (b > start) f(text.substr(start, b - start), nullptr);
    f(text.substr(b, e - b), hit);
    start = i = e;
  }
  if (start < text.size()) f(text.substr(start), nullptr);
}

inline void Tokenizer::encode_ordinary(std::string_view text, std::vector<std::int32_t>& ids) const {
  const std::string normalized = nfc_ ? nfc(text) : std::string(text);
  thread_local std::vector<std::string_view> pieces;
  pieces.clear();
  if (regex_) regex_->split_isolated(normalized, pieces);
  else pieces.push_back(normalized);
  for (const std::string_view piece : pieces) bpe(piece, ids);
}

inline void Tokenizer::bpe(std::string_view piece, std::vector<std::int32_t>& ids) const {
  {
    std::lock_guard lock(cache_->mutex);
    const auto it = cache_->ids.find(std::string(piece));
    if (it != cache_->ids.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // Symbols in a linked list; candidate merges in a min-heap by (rank, position). A popped candidate
  // is applied only if both symbols are still there and unchanged: lowest rank first, leftmost on ties.
  struct Symbol { std::int32_t id; std::int32_t prev, next; };
  std::vector<Symbol> sym(piece.size());
  for (std::size_t k = 0; k < piece.size(); ++k)
    sym[k] = {byte_id_[static_cast<unsigned char>(piece[k])], static_cast<std::int32_t>(k) - 1,
              k + 1 < piece.size() ? static_cast<std::int32_t>(k + 1) : -1};
  struct Candidate {
    std::int32_t rank, pos, left, right, result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](std::int32_t pos) {
    const std::int32_t nxt = sym[pos].next;
    if (nxt < 0) return;
    const auto it = merges_.find(pair_key(sym[pos].id, sym[nxt].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, sym[pos].id, sym[nxt].id, it->second.result});
  };
  for (std::size_t k = 0; k + 1 < piece.size(); ++k) push(static_cast<std::int32_t>(k));
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& s = sym[c.pos];
    if (s.id != c.left || s.next < 0 || sym[s.next].id != c.right) continue;  // stale
    const std::int32_t gone = s.next;
    s.id = c.result;
    s.next = sym[gone].next;
    if (s.next >= 0) sym[s.next].prev = c.pos;
    sym[gone].id = -1;
    if (s.prev >= 0) push(s.prev);
    push(c.pos);
  }
  std::vector<std::int32_t> out;
  for (std::int32_t k = piece.empty() ? -1 : 0; k >= 0; k = sym[k].next) out.push_back(sym[k].id);
  ids.insert(ids.end(), out.begin(), out.end());
  std::lock_guard lock(cache_->mutex);
  if (cache_->ids.size() > (1u << 20)) cache_->ids.clear();  // bound memory on adversarial input
  cache_->ids.emplace(std::string(piece), std::move(out));
}

}  // namespace ptq
