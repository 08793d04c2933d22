#!/usr/bin/env bash
# Crash safety: `ptq quantize` (GPTQ and AWQ) killed with SIGKILL after its first finished layer, then rerun with
# the same command, resumes from <out>.partial and writes a checkpoint byte-identical to an uninterrupted run's;
# the killed run leaves no output folder behind. DEVICE cuda: the same on the GPU (exit 77 without a CUDA device).
#   tests/reliability/kill_resume.sh PTQ_BINARY SHARED_DIR [DEVICE]
set -euo pipefail
ptq=$1
shared=$2
device=${3:-cpu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$device" = cuda ] && ! "$ptq" ppl --model "$shared/models/qwen2-micro" --device cuda --seqlen 64 --max-windows 1 \
     --data "$shared/data/wikitext-2-raw-v1/test.jsonl" --json > /dev/null 2>&1; then
  echo "skipped: no CUDA device"
  exit 77
fi
for method in gptq awq; do
  args=(quantize --model "$shared/models/qwen2-micro-outliers" --method "$method" --bits 4 --group 128 --asym
        --calib "$shared/data/wikitext-2-raw-v1/validation.jsonl" --nsamples 16 --seqlen 512 --device "$device" --json)
  "$ptq" "${args[@]}" --out "$tmp/$method-full" > /dev/null
  "$ptq" "${args[@]}" --out "$tmp/$method-killed" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1200); do [ -d "$tmp/$method-killed.partial/layer.0001" ] && break; sleep 0.05; done
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  [ -d "$tmp/$method-killed.partial/layer.0000" ] || { echo "FAILED: $method: no finished layer before the kill"; exit 1; }
  [ ! -e "$tmp/$method-killed" ] || { echo "FAILED: $method: a killed run left an output folder"; exit 1; }
  out=$("$ptq" "${args[@]}" --out "$tmp/$method-killed")
  resumed=$(echo "$out" | grep -o '"resumed_layers":[0-9]*' | cut -d: -f2)
  [ "$resumed" -ge 1 ] || { echo "FAILED: $method: nothing resumed ($out)"; exit 1; }
  cmp "$tmp/$method-full/model.safetensors" "$tmp/$method-killed/model.safetensors" ||
    { echo "FAILED: $method: the resumed checkpoint differs"; exit 1; }
  cmp "$tmp/$method-full/config.json" "$tmp/$method-killed/config.json"
  [ ! -e "$tmp/$method-killed.partial" ] || { echo "FAILED: $method: partial folder left behind"; exit 1; }
  echo "ok: $method killed after layer(s) 0..$((resumed - 1)), resumed: byte-identical checkpoint"
done
