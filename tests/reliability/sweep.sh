#!/usr/bin/env bash
# `ptq sweep`: its manifest (--plan) run as it is: its first line by tools/sweep.sbatch as Slurm array task 1 would,
# the rest by a local runner (xargs, two lines at a time, as GNU parallel would on many nodes), the records merged
# by `ptq leaderboard` with the Pareto front;
# then `ptq sweep` with the same options finds every row done (a killed sweep resumes without redoing them) and
# redoes only a row whose record is gone, to the same numbers. Calibration as data: a row calibrated on token
# windows from a file (`ptq tokenize` of the calibration text, --calib-ids) equals the row calibrated on the first
# windows of that text (--calib-windows first): the same tokens (ids_sha256), the same numbers.
#   tests/reliability/sweep.sh PTQ_BINARY SHARED_DIR
set -euo pipefail
ptq=$1
shared=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
args=(sweep --model "$shared/models/qwen2-micro-outliers" --data-dir "$shared/data" --methods rtn,gptq
      --schemes w4g128s,w3g128a --nsamples 4 --seqlen 256 --ppl-seqlen 256 --ppl-windows 2 --out "$tmp/sweep")
"$ptq" "${args[@]}" --plan > "$tmp/manifest.txt"
[ "$(wc -l < "$tmp/manifest.txt")" -eq 5 ] || fail "expected 5 commands, got: $(cat "$tmp/manifest.txt")"
SLURM_ARRAY_TASK_ID=1 "$(dirname "$0")/../../tools/sweep.sbatch" "$tmp/manifest.txt" > /dev/null ||
  fail "tools/sweep.sbatch as array task 1"
tail -n +2 "$tmp/manifest.txt" | xargs -P 2 -d '\n' -I{} sh -c '{} > /dev/null' || fail "a manifest line failed"
for k in fp16 rtn_w4g128s rtn_w3g128a gptq_w4g128s gptq_w3g128a; do
  [ -f "$tmp/sweep/$k.json" ] || fail "no record $k.json"
done
[ -z "$(ls -A "$tmp/sweep/models" 2> /dev/null)" ] || fail "sweep rows kept their checkpoints: $(ls "$tmp/sweep/models")"
"$ptq" leaderboard --results "$tmp/sweep" --format md > "$tmp/leaderboard.md"
grep -q "^## Pareto front" "$tmp/leaderboard.md" || fail "no Pareto front in the merged leaderboard"
digest() { grep -o '"results_sha256": "[0-9a-f]*"' "$tmp/sweep/$1.json"; }
before=$(digest gptq_w3g128a)
out=$("$ptq" "${args[@]}")
echo "$out" | grep -q "0 rows ran (0 failed), 5 done before" || fail "a rerun redid rows: $out"
rm "$tmp/sweep/gptq_w3g128a.json"
out=$("$ptq" "${args[@]}")
echo "$out" | grep -q "1 rows ran (0 failed), 4 done before" || fail "the rerun did not redo exactly the missing row: $out"
[ "$(digest gptq_w3g128a)" = "$before" ] || fail "the redone row's numbers differ: $before vs $(digest gptq_w3g128a)"
row=(row --method gptq --scheme w4g128s --model "$shared/models/qwen2-micro-outliers" --data-dir "$shared/data"
     --nsamples 4 --calib-seqlen 256 --ppl-seqlen 256 --ppl-windows 2 --tasks none --no-progress --discard-checkpoint)
"$ptq" "${row[@]}" --calib-windows first --key first --results "$tmp/calib" > /dev/null || fail "row --calib-windows first"
"$ptq" tokenize --tokenizer "$shared/models/qwen2-micro-outliers" --jsonl "$shared/data/wikitext-2-raw-v1/validation.jsonl" \
  --ids-out "$tmp/ids.bin" > /dev/null
"$ptq" "${row[@]}" --calib-ids "$tmp/ids.bin" --key ids --results "$tmp/calib" > /dev/null || fail "row --calib-ids"
for field in ids_sha256 results_sha256; do
  a=$(grep -o "\"$field\": \"[0-9a-f]*\"" "$tmp/calib/first.json") b=$(grep -o "\"$field\": \"[0-9a-f]*\"" "$tmp/calib/ids.json")
  [ -n "$a" ] && [ "$a" = "$b" ] || fail "--calib-ids and --calib-windows first differ in $field: $a vs $b"
done
echo "ok: the manifest ran under tools/sweep.sbatch and xargs -P 2, the leaderboard merged it, a rerun resumed (redid 1 of 5 rows, same numbers); --calib-ids equals --calib-windows first"
