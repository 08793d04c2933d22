#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA sources too when nvcc is present) and runs all tests: the suite
# (with the reference-parity cases again under the rounding probe), then the reliability stages: the parser and
# memory tests under ASan + UBSan (tools/sanitize.sh) and every fuzz target for PTQ_FUZZ_SECONDS (default 60) seconds
# (tools/fuzz.sh). About 28 minutes on 2 cores from nothing, less with a warm ccache (docs/reliability.md has the
# stage times); PTQ_QUICK=1 runs the suite only. PTQ_TEST_LEVEL=1 (default) sizes slow cases for CI; 2: full size.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/build_env.sh
stage() { echo "== $1 ($(date -u +%H:%M:%S))"; }
stage "setup"
tools/setup.sh
stage "build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${ptq_launcher[@]}"
cmake --build build -j"$(nproc)"
stage "suite"
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ "${PTQ_QUICK:-0}" != 1 ]; then
  stage "reliability: parser and memory tests under ASan + UBSan"
  tools/sanitize.sh
  stage "reliability: fuzz targets, ${PTQ_FUZZ_SECONDS:-60} s each"
  tools/fuzz.sh "${PTQ_FUZZ_SECONDS:-60}"
fi
stage "done, ${SECONDS} s in all"
