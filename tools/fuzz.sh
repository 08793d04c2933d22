#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and runs each for SECONDS (default 60) on a
# corpus seeded from real files: ../shared tokenizer/config/data and tests/data checkpoints, as many targets at once as
# there are cores (one process each). Exit 1 on any crash, leak or timeout; the crashing input is left in
# build-fuzz/findings/<target>/.
#   tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/build_env.sh
seconds=${1:-60}
shared=${PTQ_SHARED_DIR:-../shared}
command -v clang++ > /dev/null || { echo "tools/fuzz.sh needs clang (Debian package 'clang')" >&2; exit 2; }
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DPTQ_FUZZ=ON \
      -DPTQ_SHARED_DIR="$(realpath "$shared")" -DPTQ_CUDA=OFF "${ptq_launcher[@]}" > /dev/null
cmake --build build-fuzz -j"$(nproc)"
seed() {  # seed <target> <files...>
  mkdir -p "build-fuzz/corpus/$1"
  shift_target=$1; shift
  for f in "$@"; do [ -f "$f" ] && cp "$f" "build-fuzz/corpus/$shift_target/$(echo "$f" | tr '/' '_')"; done
}
seed safetensors tests/data/tiny_qwen2_tied/model.safetensors tests/data/interop/*/model.safetensors
seed config tests/data/tiny_qwen2_*/config.json tests/data/interop/*/config.json "$shared"/models/*/config.json
mkdir -p build-fuzz/corpus/tokenizer build-fuzz/corpus/datasets build-fuzz/corpus/checkpoint
head -c 4000 "$shared/data/wikitext-2-raw-v1/test.jsonl" > build-fuzz/corpus/tokenizer/wikitext
printf '{"version":"1.0","added_tokens":[],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}' \
  > build-fuzz/corpus/tokenizer/tiny_tokenizer_json
for d in "$shared"/data/*/; do
  for f in "$d"*.jsonl; do [ -f "$f" ] && head -n 3 "$f" > "build-fuzz/corpus/datasets/$(basename "$d")_$(basename "$f")"; done
done
i=0
for c in gptq_w4g32s gptq_w4g32a_actorder awq_w4g32a gptq_w8g32s; do  # first byte selects the config
  { printf "\\x$(printf %02x $i)"; cat "tests/data/interop/$c/model.safetensors"; } > "build-fuzz/corpus/checkpoint/$c"
  i=$((i + 1))
done
fuzz() {  # fuzz <target>: one run, its log and exit status in build-fuzz/findings/<target>.{log,rc}
  mkdir -p "build-fuzz/findings/$1"
  local rc=0
  (cd "build-fuzz/findings/$1" && ASAN_OPTIONS=detect_leaks=1 OMP_NUM_THREADS=1 \
     ../../tests/fuzz/fuzz_$1 -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=262144 \
     -print_final_stats=1 "../../corpus/$1") > "build-fuzz/findings/$1.log" 2>&1 || rc=$?
  echo "$rc" > "build-fuzz/findings/$1.rc"
}
targets=(safetensors config tokenizer datasets checkpoint)
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= $(nproc))); do sleep 1; done
  echo "== fuzz_$t: ${seconds}s"
  fuzz "$t" &
done
wait
status=0
for t in "${targets[@]}"; do
  echo "== fuzz_$t: exit $(cat "build-fuzz/findings/$t.rc")"
  tail -n 12 "build-fuzz/findings/$t.log"
  [ "$(cat "build-fuzz/findings/$t.rc")" = 0 ] || status=1
  if ls "build-fuzz/findings/$t" | grep -qE '^(crash|leak|timeout|oom)-'; then
    echo "fuzz_$t: FINDINGS in build-fuzz/findings/$t"; status=1
  fi
done
exit $status
