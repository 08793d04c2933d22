#!/usr/bin/env bash
# Installs ptq's build dependencies from Debian 12 packages (run as root, or with sudo available).
# Idempotent: packages already present are left alone. The CUDA toolkit is optional and not installed here.
set -euo pipefail
packages=(
  cmake g++ make pkg-config ccache
  libfmt-dev            # fmt 9: formatting
  libboost1.81-dev      # Boost.PFR: iterating aggregates
  catch2                # Catch2 v2: tests
  nlohmann-json3-dev    # JSON: config.json, safetensors headers, tokenizer.json
  libopenblas-openmp-dev  # BLAS + LAPACK (OpenMP build: no thread pool fight with our OpenMP loops)
  libdnnl-dev           # oneDNN: the bf16 matrix product on CPUs with AVX-512 BF16 / AMX
  libcli11-dev          # command-line parsing
  libpcre2-dev libutf8proc-dev  # tokenizer: pre-tokenizer regex, NFC normalization
  zlib1g-dev chromium   # tests: the HTML leaderboard rendered in headless Chromium, its screenshot decoded
  clang libclang-rt-dev libomp-dev llvm  # reliability: libFuzzer, ASan + UBSan (clang's OpenMP), symbolized reports
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ptq setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "ptq setup: all Debian packages present"
fi
