#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA sources too when nvcc is present) and runs all tests; then the
# reliability stages: the suite again under ASan + UBSan (tools/sanitize.sh) and every fuzz target for
# PTQ_FUZZ_SECONDS (default 60) seconds (tools/fuzz.sh). About 45 minutes on 2 cores; PTQ_QUICK=1 runs the suite only
# (13 minutes). PTQ_TEST_LEVEL=1 (default) sizes slow cases for CI; set 2 for the full versions.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ "${PTQ_QUICK:-0}" != 1 ]; then
  echo "== reliability: the suite under ASan + UBSan"
  tools/sanitize.sh
  echo "== reliability: fuzz targets, ${PTQ_FUZZ_SECONDS:-60} s each"
  tools/fuzz.sh "${PTQ_FUZZ_SECONDS:-60}"
fi
