/// @file Measured memory of this process (Linux): peak resident set size, and resetting the peak between phases
/// so that, e.g., evaluating a quantized model is measured apart from quantizing it.
#pragma once

#include <sys/resource.h>

#include <cstddef>
#include <fstream>

namespace ptq {

/// Peak resident set size of this process so far (bytes): VmHWM, or ru_maxrss where /proc is unavailable.
inline std::size_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return static_cast<std::size_t>(std::stoull(line.substr(6))) * 1024;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

/// Resets the peak to the current resident set ("5" > /proc/self/clear_refs, Linux >= 4.0). False if unsupported.
inline bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace ptq
