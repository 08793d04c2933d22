/// @file Memory of this process (Linux), measured: current and peak resident set size; and the memory still
/// available, so that work that cannot fit is refused up front.
#pragma once

#include "ptq/core/status.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace ptq {

namespace detail {
/// A "Vm...:  N kB" field of /proc/self/status in bytes, or 0.
inline std::size_t proc_status_bytes(std::string_view field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field, 0) == 0) return static_cast<std::size_t>(std::stoull(line.substr(field.size()))) * 1024;
  return 0;
}
}  // namespace detail

/// Peak resident set size of this process so far (bytes): VmHWM, or ru_maxrss where /proc is unavailable.
inline std::size_t peak_rss_bytes() {
  if (const std::size_t b = detail::proc_status_bytes("VmHWM:")) return b;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

/// Current resident set size (bytes, VmRSS); 0 where /proc is unavailable.
inline std::size_t current_rss_bytes() { return detail::proc_status_bytes("VmRSS:"); }

/// Memory this process can still use (bytes): MemAvailable, capped by a cgroup v2 limit (memory.max minus
/// memory.current); PTQ_MEMORY_AVAILABLE (bytes) overrides both (tests, or a self-imposed budget).
inline std::size_t available_memory_bytes() {
  if (const char* env = std::getenv("PTQ_MEMORY_AVAILABLE")) return static_cast<std::size_t>(std::stoull(env));
  std::size_t avail = 0;
  std::ifstream info("/proc/meminfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("MemAvailable:", 0) == 0) avail = static_cast<std::size_t>(std::stoull(line.substr(13))) * 1024;
  std::ifstream max_f("/sys/fs/cgroup/memory.max"), cur_f("/sys/fs/cgroup/memory.current");
  std::string max_s, cur_s;
  if (max_f >> max_s && cur_f >> cur_s && max_s != "max") {
    const auto max = std::stoull(max_s), cur = std::stoull(cur_s);
    avail = std::min<std::size_t>(avail, max > cur ? max - cur : 0);
  }
  return avail;
}

/// Refuses up front, with the numbers, work whose memory (`needed` bytes) exceeds what is available, instead of
/// being killed by the kernel halfway.
inline void check_memory(std::size_t needed, const std::string& where, const std::string& what) {
  const std::size_t avail = available_memory_bytes();
  check(avail == 0 || needed <= avail, where, what, "needs {:.1f} MB of memory, {:.1f} MB available", needed / 1e6,
        avail / 1e6);
}

}  // namespace ptq
