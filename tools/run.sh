#!/usr/bin/env bash
# The main job: install what is missing, build, and run ptq on a model (default: ../shared/models/qwen2-micro).
#   tools/run.sh [--model DIR] [--data DIR]
# Today it evaluates the unquantized model (the leaderboard's FP16 row): WikiText-2 perplexity (GPTQ protocol,
# seqlen 512) and the six lm-eval tasks on their first 100 documents. The quantized rows and the rendered
# leaderboard (examples/, `ptq leaderboard`) plug in here as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
model=../shared/models/qwen2-micro
data=../shared/data
while (($#)); do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "usage: tools/run.sh [--model DIR] [--data DIR]" >&2; exit 2 ;;
  esac
done
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
echo "== ptq main job: model $model, data $data"
build/tools/ptq info --model "$model"
build/tools/ptq ppl --model "$model" --data "$data/wikitext-2-raw-v1/test.jsonl" --protocol gptq --seqlen 512
build/tools/ptq eval --model "$model" --data-dir "$data" --limit 100
