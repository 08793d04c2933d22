#!/usr/bin/env bash
# The main job: install what is missing, build, and run ptq on a model (default: ../shared/models/qwen2-micro).
#   tools/run.sh [--model DIR] [--data DIR]
# Today it loads and checks the model and measures prefill throughput; the leaderboard (examples/ and
# `ptq leaderboard`) plugs in here as it lands.
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
build/bench/bench_prefill --model "$model" --tokens 512 --reps 3
