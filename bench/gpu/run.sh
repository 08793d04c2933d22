#!/usr/bin/env bash
# The GPU check, sized for about 8 minutes on one H200: configure for sm_90, build the CUDA tests and benchmarks, run
# the CUDA tests (kernels, forward pass, GPTQ vs the CPU), the quantized-product sweep on Qwen2.5-7B shapes (every
# configuration validated against the CPU reference, against cuBLAS bf16, L2 flushed), the two attention kernels at
# 2048 and 16,384 tokens, then GPTQ of a synthetic Qwen2.5-7B.
# Prints a short summary; record what was measured in docs/gpu-results.md (date, command, GPU).
#   bench/gpu/run.sh [reps=30] [nsamples=128] [seqlen=2048]
set -uo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-30}; nsamples=${2:-128}; seqlen=${3:-2048}
out=build-gpu/results; mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null || exit 1
cmake --build build-gpu -j"$(nproc)" --target test_quant_matmul test_block_kernels test_qwen2_gpu test_gptq_gpu bench_quant_matmul \
      bench_qwen2_7b bench_attention ptq_cli ptq_row_rtn 2>&1 | tail -n 3 || exit 1
status=0
ctest --test-dir build-gpu -L cuda --output-on-failure --timeout 240 | tee "$out/ctest.txt" || status=1
build-gpu/bench/bench_quant_matmul "$reps" w4g128s > "$out/sweep_w4.csv" || status=1
for s in w8g128s w3g128a; do build-gpu/bench/bench_quant_matmul 10 "$s" > "$out/sweep_$s.csv" || status=1; done
echo "== best configuration per shape and M (speedup over cuBLAS bf16, % of copy bandwidth):"
for f in "$out"/sweep_*.csv; do
  echo "-- $(basename "$f" .csv)"
  awk -F, '$1 !~ /^#/ && NR > 1 && $3 != "cublas_bf16" && $4 !~ /INVALID/ && NF == 8 {
             key = $1 " M=" $2; if ($8 > best[key]) { best[key] = $8; cfg[key] = $3; pct[key] = $7 } }
           END { for (k in best) printf "%-30s %-20s %5.2fx  %3.0f%% bw\n", k, cfg[k], best[k], pct[k] }' "$f" | sort -V
done
grep -h INVALID "$out"/sweep_*.csv && status=1
echo "== attention (per-query vs tiled kernel):"
timeout 120 build-gpu/bench/bench_attention 10 | tee "$out/attention.csv" || status=1
timeout 420 build-gpu/bench/bench_qwen2_7b "$nsamples" "$seqlen" | tee "$out/qwen2_7b.txt" || status=1
echo "bench/gpu/run.sh: $([ $status = 0 ] && echo all passed || echo FAILURES) (outputs in $out)"
exit $status
