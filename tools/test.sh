#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA sources too when nvcc is present) and runs all tests.
# PTQ_TEST_LEVEL=1 (default) sizes slow cases for CI; set 2 for the full versions.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
