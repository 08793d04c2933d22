#!/usr/bin/env bash
# WikiText-2 perplexity (GPTQ protocol, seqlen 512, first WINDOWS windows) of both micro models, unquantized
# and quantized with each method at W4 g128 sym and W3 g128 asym (calibration: WikiText-2 validation,
# NSAMPLES x 512 tokens, seed 0). Prints a markdown table; docs/quantization.md records its output.
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
echo "| model | bf16 | RTN W4 g128 sym | GPTQ W4 g128 sym | RTN W3 g128 asym | GPTQ W3 g128 asym |"
echo "|---|---|---|---|---|---|"
for m in qwen2-micro qwen2-micro-outliers; do
  row="| $m | $(ppl ../shared/models/$m)"
  for scheme in "4 --sym" "3 --asym"; do
    set -- $scheme
    for method in rtn gptq; do
      out=$tmp/$m-$method-$1
      "$ptq" quantize --model ../shared/models/$m --method $method --bits $1 --group 128 $2 \
        --calib $data/validation.jsonl --nsamples "$nsamples" --seqlen 512 --out "$out" --json > /dev/null
      row="$row | $(ppl "$out")"
    done
  done
  echo "$row |"
done
