#!/usr/bin/env bash
# `ptq quantize --mixed` from the command line: the JSON (bits per weight within the budget and as planned, every
# linear's scheme among the candidates), the checkpoint exported to GPTQ with the same perplexity, AWQ GEMM and
# --device cuda refusing a mix by name, bad candidates refused before any work and a budget below what the candidates
# allow once their sizes are measured.
#   tests/reliability/mixed_cli.sh PTQ_BINARY SHARED_DIR
set -uo pipefail
ptq=$1
shared=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
model="$shared/models/qwen2-micro"
quant=(quantize --model "$model" --method gptq --nsamples 4 --seqlen 256
       --calib "$shared/data/wikitext-2-raw-v1/validation.jsonl" --json)
mix=(--mixed --budget-bits 3.6 --candidates w3g128a,w4g128s,w8g128s)

"$ptq" "${quant[@]}" "${mix[@]}" --out "$tmp/mix" > "$tmp/mix.json" || fail "ptq quantize --mixed"
python3 - "$tmp/mix.json" <<'PY' || fail "the --mixed JSON: $(cat "$tmp/mix.json")"
import json, sys
j = json.load(open(sys.argv[1]))
m = j["mixed"]
assert j["scheme"] == "mix3.6[w3g128a+w4g128s+w8g128s]", j["scheme"]
assert j["bits_per_weight"] <= 3.6 and m["predicted_bits_per_weight"] == j["bits_per_weight"]
assert len(m["linears"]) == 42 and set(m["linears"].values()) <= {"w3g128a", "w4g128s", "w8g128s"}
assert len(set(m["linears"].values())) >= 2 and sum(m["linears_per_scheme"].values()) == 42
print(f"mixed: {j['bits_per_weight']:.4f} bits per weight, {m['linears_per_scheme']}")
PY
grep -q '"dynamic"' "$tmp/mix/config.json" || fail "no dynamic entries in the mixed checkpoint's config"

"$ptq" export --model "$tmp/mix" --format gptq --out "$tmp/mix-gptq" > /dev/null || fail "export --format gptq"
ppl=(ppl --data "$shared/data/wikitext-2-raw-v1/test.jsonl" --seqlen 256 --max-windows 2 --json)
a=$("$ptq" "${ppl[@]}" --model "$tmp/mix") || fail "ppl of the native mixed checkpoint"
b=$("$ptq" "${ppl[@]}" --model "$tmp/mix-gptq") || fail "ppl of the GPTQ mixed checkpoint"
[ "$(echo "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')" = \
  "$(echo "$b" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')" ] || fail "ppl differs: $a / $b"

refused() {  # refused <what grep must find> <args...>: exits non-zero with the message, writes nothing
  local want=$1; shift
  "$ptq" "$@" > /dev/null 2> "$tmp/err" && fail "accepted: $*"
  grep -qE -- "$want" "$tmp/err" || fail "$*: expected \"$want\", got: $(cat "$tmp/err")"
}
refused "AWQ GEMM holds one scheme" export --model "$tmp/mix" --format awq --out "$tmp/mix-awq"
[ ! -e "$tmp/mix-awq" ] || fail "a refused export left $tmp/mix-awq"
# (without a GPU, --device cuda is refused first, as every command refuses it)
refused "mixed precision is quantized on the CPU|no CUDA device found" "${quant[@]}" "${mix[@]}" --device cuda --out "$tmp/x1"
refused '"w5g128s" is not an instantiated scheme \(instantiated: w4g128s' "${quant[@]}" --mixed --budget-bits 4 \
  --candidates w3g128a,w5g128s --out "$tmp/x2"
refused "below the smallest allocation the candidates allow \(3.3250\)" "${quant[@]}" --mixed --budget-bits 2 \
  --candidates w3g128a,w4g128s --out "$tmp/x3"
refused "go with --mixed" "${quant[@]}" --candidates w3g128a,w4g128s --out "$tmp/x4"
echo "mixed_cli: ok"
