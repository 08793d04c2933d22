#!/usr/bin/env bash
# The GPU check, sized for a few minutes on one H200: configure for sm_90, build the CUDA tests and benchmarks,
# run the CUDA tests, then the W4A16 tile sweep (validated against the CPU reference, against cuBLAS fp16).
# Prints a short summary; docs/gpu-results.md records what was measured (date, command, GPU).
#   bench/gpu/run.sh [reps=50]
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-50}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null
cmake --build build-gpu -j"$(nproc)" --target test_w4a16_gemv bench_w4a16
ctest --test-dir build-gpu -L cuda --output-on-failure
build-gpu/bench/bench_w4a16 "$reps" | tee build-gpu/bench_w4a16.csv
echo "== best W4A16 configuration per shape and M (speedup over cuBLAS fp16):"
awk -F, 'NR > 1 && $3 != "cublas_fp16" && $4 !~ /INVALID/ { key = $1 "," $2; if ($7 > best[key]) { best[key] = $7; cfg[key] = $3; gb[key] = $6 } }
         END { for (k in best) printf "%-28s M=%-3s %-12s %5.2fx  %6.0f GB/s\n", substr(k, 1, index(k, ",") - 1), substr(k, index(k, ",") + 1), cfg[k], best[k], gb[k] }' \
  build-gpu/bench_w4a16.csv | sort
