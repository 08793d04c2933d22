/// @file Read-only memory-mapped files and atomic (temporary file + rename) writes.
#pragma once

#include "ptq/core/status.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <sstream>
#include <string>

namespace ptq {

namespace fs = std::filesystem;

/// A whole file mapped read-only (RAII). The mapping outlives the descriptor.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const fs::path& path) : path_(path.string()) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    check(fd >= 0, path_, "", "cannot open: {}", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(path_, "", "not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      check(p != MAP_FAILED, path_, "", "mmap failed: {}", std::strerror(errno));
      data_ = static_cast<const std::byte*>(p);
    } else {
      ::close(fd);
    }
  }
  MappedFile(MappedFile&& o) noexcept { swap(o); }
  MappedFile& operator=(MappedFile&& o) noexcept { swap(o); return *this; }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() { if (data_) ::munmap(const_cast<std::byte*>(data_), size_); }

  [[nodiscard]] std::span<const std::byte> bytes() const { return {data_, size_}; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  void swap(MappedFile& o) noexcept { std::swap(path_, o.path_); std::swap(data_, o.data_); std::swap(size_, o.size_); }
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Drops the resident pages wholly inside [p, p + n) of a read-only file mapping whose bytes were copied out
/// (the packed tensors of a quantized checkpoint): they would otherwise count twice in the resident set. The
/// bytes stay readable (the kernel reads them again from the file on access).
inline void release_mapped_pages(const std::byte* p, std::size_t n) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

/// Reads a whole (small) text file; the error names the file.
inline std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), path.string(), "", "cannot open: {}", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Calls f(line_number (1-based), line) for each "\n"-terminated line of `text` (the last may lack "\n").
template <class F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t pos = 0, line = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    f(++line, text.substr(pos, end - pos));
    pos = end + 1;
  }
}

/// Writes `path` atomically: `write(stream)` fills a temporary file in the same folder, which is flushed,
/// fsync'ed and renamed over `path`. A crash or an exception leaves either the old file or the new one.
inline void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  const fs::path tmp = path.string() + fmt::format(".tmp.{}", ::getpid());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      check(static_cast<bool>(out), tmp.string(), "", "cannot create: {}", std::strerror(errno));
      write(out);
      out.flush();
      check(static_cast<bool>(out), tmp.string(), "", "write failed: {}", std::strerror(errno));
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) { ::fsync(fd); ::close(fd); }
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

/// Fills a temporary folder beside `path` with `fill(folder)` and renames it to `path` (which must not exist):
/// an exception or a crash leaves no half-written folder under that name.
inline void write_folder_atomic(const fs::path& path, const std::function<void(const fs::path&)>& fill) {
  const fs::path tmp = path.string() + fmt::format(".tmp.{}", ::getpid());
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    fill(tmp);
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace ptq
