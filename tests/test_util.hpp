/// @file Helpers shared by the tests: data locations, test level, temporary folders, golden files.
#pragma once

#include "ptq/io/safetensors.hpp"
#include "ptq/kernels/ref/matmul_path.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace ptq::test {

/// ../shared (data, models, tokenizer) and tests/data (committed golden files).
inline std::filesystem::path shared_dir() {
  const char* env = std::getenv("PTQ_SHARED_DIR");
  return env ? env : PTQ_SHARED_DIR;
}
inline std::filesystem::path data_dir() { return PTQ_TEST_DATA_DIR; }

/// PTQ_TEST_LEVEL: 1 (default, CI) runs sized-down slow cases; 2+ runs them in full.
inline int test_level() {
  const char* env = std::getenv("PTQ_TEST_LEVEL");
  return env ? std::atoi(env) : 1;
}

/// Runs the linears' products on `path` while alive (CTest pins PTQ_MATMUL=f32 for every test: tests/CMakeLists.txt).
class ScopedMatmulPath {
 public:
  explicit ScopedMatmulPath(ref::MatmulPath path) : saved_(ref::matmul_path()) { ref::set_matmul_path(path); }
  ~ScopedMatmulPath() { ref::set_matmul_path(saved_); }
  ScopedMatmulPath(const ScopedMatmulPath&) = delete;
  ScopedMatmulPath& operator=(const ScopedMatmulPath&) = delete;

 private:
  ref::MatmulPath saved_;
};

/// A fresh folder under the system temporary folder, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("ptq_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path_, ec); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Opens a golden file written by tools/golden/*.py and checks its magic and version.
inline SafetensorsFile open_golden(const std::filesystem::path& path) {
  INFO("golden file " << path << " (regenerate: python tools/golden/make_qwen2_golden.py)");
  REQUIRE(std::filesystem::exists(path));
  SafetensorsFile f(path);
  REQUIRE(f.metadata().count("format") == 1);
  REQUIRE(f.metadata().at("format") == "ptq-golden");
  REQUIRE(f.metadata().at("version") == "1");
  return f;
}

/// Copies a float-typed or I32 tensor out as a vector.
template <class T>
std::vector<T> tensor_values(const TensorRef& t) {
  std::vector<T> out(static_cast<std::size_t>(t.numel()));
  if constexpr (std::is_same_v<T, float>) {
    to_float(t, 0, out);
  } else {
    REQUIRE(t.dtype == dtype_of<T>());
    std::memcpy(out.data(), t.data, t.nbytes());
  }
  return out;
}

/// Expects `throw ptq::Error` whose message contains every given fragment.
#define PTQ_REQUIRE_ERROR(expr, ...)                                              \
  do {                                                                            \
    bool ptq_thrown_ = false;                                                     \
    try {                                                                         \
      (void)(expr);                                                               \
    } catch (const ::ptq::Error& e) {                                             \
      ptq_thrown_ = true;                                                         \
      const std::string msg_ = e.what();                                          \
      INFO("error message: " << msg_);                                            \
      for (const std::string& frag_ : std::initializer_list<std::string>{__VA_ARGS__}) CHECK_THAT(msg_, Catch::Contains(frag_)); \
    }                                                                             \
    CHECK(ptq_thrown_);                                                           \
  } while (0)

}  // namespace ptq::test
