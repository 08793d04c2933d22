/// @file Measured memory of this process (Linux): peak resident set size, and resetting the peak between phases
/// so that, e.g., evaluating a quantized model is measured apart from quantizing it.
#pragma once

#include <sys/resource.h>

#include <cstddef>
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

/// Resets the peak to the current resident set ("5" > /proc/self/clear_refs, Linux >= 4.0). False if unsupported.
inline bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace ptq
