#!/usr/bin/env bash
# Crash safety of a leaderboard row: the RTN row killed with SIGKILL (its whole process group: the row and its
# evaluation child) after its first finished evaluation step, then run again with the same command, resumes (every
# quantized layer from <results>/models/<key>.partial, the finished steps from <results>/<key>.eval.partial) and
# writes a record whose results_sha256 equals an uninterrupted run's; the killed run leaves no record behind and the
# finished run no resume state.
#   tests/reliability/kill_resume_eval.sh ROW_BINARY SHARED_DIR
set -euo pipefail
row=$1
shared=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(--model "$shared/models/qwen2-micro" --data-dir "$shared/data" --ppl-windows 4 --ppl-seqlen 512 --limit 10
      --no-progress)
"$row" "${args[@]}" --results "$tmp/full" > /dev/null
setsid "$row" "${args[@]}" --results "$tmp/killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 2400); do compgen -G "$tmp/killed/*.eval.partial/ppl.json" > /dev/null && break; sleep 0.05; done
pgid=$(ps -o pgid= "$pid" | tr -d ' ')
kill -9 -- "-$pgid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
compgen -G "$tmp/killed/*.eval.partial/ppl.json" > /dev/null || { echo "FAILED: no finished evaluation step before the kill"; exit 1; }
! compgen -G "$tmp/killed/*.json" > /dev/null || { echo "FAILED: the killed run left a record"; exit 1; }
"$row" "${args[@]}" --results "$tmp/killed" > /dev/null
field() { grep -o "\"$2\": *[^,}]*" "$1" | head -n 1 | sed 's/.*: *//; s/"//g'; }
a=$(compgen -G "$tmp/full/*.json"); b=$(compgen -G "$tmp/killed/*.json")
[ "$(field "$a" results_sha256)" = "$(field "$b" results_sha256)" ] ||
  { echo "FAILED: resumed results differ: $(field "$a" results_sha256) vs $(field "$b" results_sha256)"; exit 1; }
steps=$(field "$b" eval_resumed_steps); layers=$(field "$b" resumed_layers)
[ "$steps" -ge 1 ] && [ "$layers" -ge 1 ] || { echo "FAILED: nothing resumed (steps $steps, layers $layers)"; exit 1; }
! compgen -G "$tmp/killed/*.partial" > /dev/null && ! compgen -G "$tmp/killed/models/*.partial" > /dev/null ||
  { echo "FAILED: resume state left behind"; exit 1; }
echo "ok: row killed during evaluation; resumed $layers layer(s) and $steps evaluation step(s): same results_sha256"
