#!/usr/bin/env bash
# The tests that exercise parsers and memory (readers, tokenizer, packing, scoring layouts, error paths; the SANITIZE
# lists in tests/CMakeLists.txt) under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, clang, -O1 with
# line tables). Any report fails the run: UBSan does not recover, ASan aborts, leaks are reported at exit. The long
# numeric runs and the CUDA targets are left out (docs/reliability.md).
#   tools/sanitize.sh [ctest arguments, e.g. -R test_quant]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/build_env.sh
command -v clang++ > /dev/null || { echo "tools/sanitize.sh needs clang (Debian package 'clang')" >&2; exit 2; }
# -Wno-pass-failed: at -O1 clang declines the `omp simd` vectorization hints and says so for every loop.
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -gline-tables-only -Wno-pass-failed"
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
      -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DPTQ_CUDA=OFF \
      -DPTQ_SANITIZE_SUBSET=ON "${ptq_launcher[@]}" > /dev/null
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir build-asan -j"$(nproc)" --output-on-failure --timeout 1800 "$@"
