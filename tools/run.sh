#!/usr/bin/env bash
# The main job: install what is missing, build, run every leaderboard row and render the leaderboard.
#   tools/run.sh [--model DIR] [--data DIR] [--results DIR] [--full] [--device cpu|cuda] [-- ROW_OPTIONS...]
# Default: ../shared/models/qwen2-micro with ../shared/data, sized to finish in about 15 minutes on 2 CPU cores:
# WikiText-2 perplexity on the first 160 windows of 512 tokens (the micro models' protocol, SOURCE.md), each task
# on its first 100 documents (MMLU: per subject). --full evaluates everything with the paper protocol (the whole
# test set in windows of 2048 tokens, every document): use it for a real model, e.g.
#   tools/run.sh --model ~/models/Qwen2.5-7B --full --device cuda
# --device cuda evaluates every row on the GPU (bf16); without a CUDA device it stops at once and says so.
# Writes results/<row>.json (one record per row), results/leaderboard.md, .html, .csv and .json.
set -euo pipefail
cd "$(dirname "$0")/.."
model=../shared/models/qwen2-micro
data=../shared/data
results=results
sizes=(--ppl-seqlen 512 --ppl-windows 160 --limit 100)
extra=()
device=cpu
while (($#)); do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --full) sizes=(); shift ;;
    --device) device=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: tools/run.sh [--model DIR] [--data DIR] [--results DIR] [--full] [--device cpu|cuda] [-- ROW_OPTIONS...]" >&2
       exit 2 ;;
  esac
done
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target ptq_cli ptq_row_fp16 ptq_row_rtn ptq_row_awq ptq_row_gptq
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
echo "== ptq leaderboard: model $model, data $data, results $results, sizes: ${sizes[*]:-full}, device $device"
build/tools/ptq info --model "$model"
status=0
for row in fp16 rtn awq gptq; do
  echo "== row $row"
  rc=0
  build/examples/ptq_row_$row --model "$model" --data-dir "$data" --results "$results" --device "$device" "${sizes[@]}" \
    "${extra[@]}" || rc=$?
  [ "$rc" -ne 2 ] || exit 2  # bad options or an unusable device: the row said why in one line, before any work
  [ "$rc" -eq 0 ] || status=1  # the record says why; the leaderboard shows the failed row
done
for fmt in md html csv json; do
  build/tools/ptq leaderboard --results "$results" --format "$fmt" --out "$results/leaderboard.$fmt"
done
cat "$results/leaderboard.md"
echo "== wrote $results/leaderboard.md, .html, .csv, .json"
exit $status
