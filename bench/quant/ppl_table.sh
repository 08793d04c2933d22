#!/usr/bin/env bash
# WikiText-2 perplexity (GPTQ protocol, seqlen 512, first WINDOWS windows) of both micro models, unquantized
# and quantized with each method: W4 g128 (RTN and GPTQ symmetric as the leaderboard rows, AWQ with zero points,
# and RTN with zero points for a like-for-like comparison with AWQ) and W3 g128 asymmetric. Calibration:
# WikiText-2 validation, NSAMPLES x 512 tokens, seed 0. Prints a markdown table; docs/quantization.md records it.
#   bench/quant/ppl_table.sh [build/tools/ptq] [WINDOWS=32] [NSAMPLES=128]
set -euo pipefail
ptq=${1:-build/tools/ptq}
windows=${WINDOWS:-32}
nsamples=${NSAMPLES:-128}
data=../shared/data/wikitext-2-raw-v1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ppl() { "$ptq" ppl --model "$1" --data "$data/test.jsonl" --seqlen 512 --max-windows "$windows" --json |
        python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["ppl"])'; }
runs=("rtn 4 --sym" "gptq 4 --sym" "awq 4 --asym" "rtn 4 --asym" "rtn 3 --asym" "gptq 3 --asym" "awq 3 --asym")
header="| model | bf16"
for r in "${runs[@]}"; do set -- $r; header="$header | ${1^^} W$2 g128 ${3#--}"; done
echo "$header |"
echo "|---|---$(printf '|---%.0s' "${runs[@]}")|"
for m in qwen2-micro qwen2-micro-outliers; do
  row="| $m | $(ppl ../shared/models/$m)"
  for r in "${runs[@]}"; do
    set -- $r
    out=$tmp/$m-$1-$2${3}
    "$ptq" quantize --model ../shared/models/$m --method $1 --bits $2 --group 128 $3 \
      --calib $data/validation.jsonl --nsamples "$nsamples" --seqlen 512 --out "$out" --json > /dev/null
    row="$row | $(ppl "$out")"
  done
  echo "$row |"
done
