/// @file The CPU this process runs on, from /proc/cpuinfo: its model name and the features that decide which
/// matrix product is fastest (kernels/ref/matmul_path.hpp). For records and benchmarks; decisions are oneDNN's.
#pragma once

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ptq {

struct CpuInfo {
  std::string name = "unknown";       // "AMD EPYC 9654 96-Core Processor"
  std::vector<std::string> features;  // those of kMatmulFeatures the CPU has, in that order
};

/// Vector and matrix extensions that the float32 and bf16 products use: AVX2/FMA (OpenBLAS's Haswell/Zen kernels),
/// AVX-512, AVX-512 BF16 (vdpbf16ps) and AMX tiles (oneDNN's native bf16).
inline constexpr std::array<std::string_view, 6> kMatmulFeatures{"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16",
                                                                 "amx_tile"};

inline CpuInfo cpu_info() {
  CpuInfo info;
  std::ifstream in("/proc/cpuinfo");
  bool named = false, flagged = false;
  for (std::string line; (!named || !flagged) && std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon + 2 > line.size()) continue;
    if (!named && line.rfind("model name", 0) == 0) info.name = line.substr(colon + 2), named = true;
    if (!flagged && line.rfind("flags", 0) == 0) {
      std::istringstream flags(line.substr(colon + 2));
      std::vector<std::string> all;
      for (std::string f; flags >> f;) all.push_back(f);
      for (std::string_view f : kMatmulFeatures)
        if (std::find(all.begin(), all.end(), f) != all.end()) info.features.emplace_back(f);
      flagged = true;
    }
  }
  return info;
}

}  // namespace ptq
