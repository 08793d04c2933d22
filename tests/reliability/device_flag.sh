#!/usr/bin/env bash
# --device on the commands: `ptq ppl`, `ptq eval`, `ptq quantize` and a row binary with --device cuda either run on the
# GPU (a machine with one: ppl and eval must then agree with --device cpu, and GPTQ on the GPU must give the CPU GPTQ's
# perplexity within 2%, in either kernel configuration) or, without one, exit non-zero at once with one line that
# says no CUDA device was found; an unknown device or kernel configuration is refused by name, with the list, and so is
# an unknown CPU product path (PTQ_MATMUL).
#   tests/reliability/device_flag.sh PTQ_BINARY ROW_BINARY SHARED_DIR
set -uo pipefail
ptq=$1
row=$2
shared=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
model="$shared/models/qwen2-micro"
ppl=(ppl --model "$model" --data "$shared/data/wikitext-2-raw-v1/test.jsonl" --seqlen 256 --max-windows 2 --json)
eval_args=(eval --model "$model" --data-dir "$shared/data" --tasks arc_easy --limit 8 --json)
quant=(quantize --model "$model" --method gptq --nsamples 4 --seqlen 256 --calib "$shared/data/wikitext-2-raw-v1/validation.jsonl" --json)

"$ptq" "${ppl[@]}" --device tpu > /dev/null 2> "$tmp/err" && fail "--device tpu was accepted"
grep -q "'tpu' is not a device (cpu, cuda)" "$tmp/err" || fail "--device tpu: $(cat "$tmp/err")"
"$ptq" "${ppl[@]}" --device cuda --kernels gemv_1x1x1 > /dev/null 2> "$tmp/err" && fail "--kernels gemv_1x1x1 was accepted"
grep -q "'gemv_1x1x1' is not a kernel configuration (compiled: gemv_8x4x2+gemm_64x128x64_s2+dequant_256, " "$tmp/err" ||
  fail "--kernels gemv_1x1x1: $(cat "$tmp/err")"
"$row" --model "$model" --data-dir "$shared/data" --results "$tmp/rows" --kernels gemv_1x1x1 > /dev/null 2> "$tmp/err"
[ $? -eq 2 ] || fail "the row did not refuse --kernels gemv_1x1x1 with exit 2"
grep -q "is not a kernel configuration" "$tmp/err" || fail "row --kernels gemv_1x1x1: $(cat "$tmp/err")"

# The CPU's product path (PTQ_MATMUL, kernels/ref/matmul_path.hpp): a bad value refused at once, the path reported.
PTQ_MATMUL=fp8 "$ptq" "${ppl[@]}" > /dev/null 2> "$tmp/err" && fail "PTQ_MATMUL=fp8 was accepted"
grep -q "PTQ_MATMUL: 'fp8' is not a matrix product path (f32, bf16 or auto)" "$tmp/err" || fail "PTQ_MATMUL=fp8: $(cat "$tmp/err")"
grep -q "ppl (gptq)" "$tmp/err" && fail "PTQ_MATMUL=fp8 was refused only after the work began"
PTQ_MATMUL=bf16 "$ptq" "${ppl[@]}" > "$tmp/bf16.json" || fail "ppl with PTQ_MATMUL=bf16"
grep -q '"matmul":"bf16"' "$tmp/bf16.json" || fail "ppl does not report the bf16 path: $(cat "$tmp/bf16.json")"

"$ptq" "${ppl[@]}" --device cuda > "$tmp/gpu.json" 2> "$tmp/err"
rc=$?
if [ "$rc" -eq 0 ]; then
  # A GPU: the same perplexity within 1e-3 relative, the same task accuracy.
  "$ptq" "${ppl[@]}" --device cpu > "$tmp/cpu.json" || fail "ppl on the cpu"
  python3 - "$tmp/cpu.json" "$tmp/gpu.json" <<'PY' || fail "ppl: cpu and cuda differ"
import json, sys
a, b = (json.load(open(p))["ppl"] for p in sys.argv[1:])
print(f"ppl cpu {a:.6f} cuda {b:.6f}")
sys.exit(abs(a - b) > 1e-3 * a)
PY
  "$ptq" "${eval_args[@]}" --device cuda > "$tmp/gpu_eval.json" || fail "eval --device cuda"
  "$ptq" "${eval_args[@]}" --device cpu > "$tmp/cpu_eval.json" || fail "eval --device cpu"
  python3 - "$tmp/cpu_eval.json" "$tmp/gpu_eval.json" <<'PY' || fail "eval: cpu and cuda differ"
import json, sys
a, b = (json.load(open(p))["arc_easy"]["metrics"]["acc"]["value"] for p in sys.argv[1:])
print(f"arc_easy acc cpu {a} cuda {b}")
sys.exit(abs(a - b) > 1 / 8 + 1e-9)  # at most one of the 8 documents may flip
PY
  "$ptq" "${quant[@]}" --device cuda --out "$tmp/q_gpu" > /dev/null || fail "quantize --device cuda"
  "$ptq" "${quant[@]}" --device cpu --out "$tmp/q_cpu" > /dev/null || fail "quantize --device cpu"
  python3 - "$ptq" "$tmp" "$shared" <<'PY' || fail "GPTQ on the GPU and on the CPU differ"
import json, subprocess, sys
ptq, tmp, shared = sys.argv[1:]
def ppl(d):
    out = subprocess.run([ptq, "ppl", "--model", d, "--data", shared + "/data/wikitext-2-raw-v1/test.jsonl",
                          "--seqlen", "256", "--max-windows", "8", "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["ppl"]
a, b = ppl(tmp + "/q_cpu"), ppl(tmp + "/q_gpu")
print(f"GPTQ ppl: quantized on the cpu {a:.4f}, on the gpu {b:.4f}")
sys.exit(abs(a - b) > 0.02 * a)
PY
  # The packed model in each kernel configuration (products of 256 rows: the tensor-core GEMM, or dequantize + cuBLAS
  # under the first), on the GPU against the CPU.
  packed_ppl=(ppl --model "$tmp/q_gpu" --data "$shared/data/wikitext-2-raw-v1/test.jsonl" --seqlen 512 --max-windows 2 --json)
  "$ptq" "${packed_ppl[@]}" --device cpu > "$tmp/pcpu.json" || fail "packed ppl on the cpu"
  for k in gemv_8x4x2+gemm_64x128x64_s2+dequant_256 gemv_8x8x1+gemm_128x128x32_s2+dequant_1024; do
    "$ptq" "${packed_ppl[@]}" --device cuda --kernels "$k" > "$tmp/pgpu.json" || fail "packed ppl --kernels $k"
    python3 - "$tmp/pcpu.json" "$tmp/pgpu.json" "$k" <<'PY' || fail "packed ppl --kernels $k differs from the cpu"
import json, sys
a, b = (json.load(open(p))["ppl"] for p in sys.argv[1:3])
print(f"packed ppl cpu {a:.6f}, cuda --kernels {sys.argv[3]} {b:.6f}")
sys.exit(abs(a - b) > 1e-3 * a)
PY
  done
  "$ptq" "${quant[@]}" --bits 5 --device cuda --out "$tmp/q5" > /dev/null 2> "$tmp/err" &&
    fail "quantize --device cuda accepted a scheme the GPU backend has no instantiation for"
  grep -q "w5g128s is not instantiated (instantiated: w4g128s" "$tmp/err" || fail "--bits 5 --device cuda: $(cat "$tmp/err")"
  echo "ok: a CUDA device ran ppl, eval and quantize"
  exit 0
fi
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "ppl --device cuda: expected one line, got: $(cat "$tmp/err")"
grep -q "no CUDA device found" "$tmp/err" || fail "ppl --device cuda: $(cat "$tmp/err")"
"$ptq" "${eval_args[@]}" --device cuda > /dev/null 2> "$tmp/err" && fail "eval --device cuda succeeded without a device"
grep -q "no CUDA device found" "$tmp/err" || fail "eval --device cuda: $(cat "$tmp/err")"
"$ptq" "${quant[@]}" --device cuda --out "$tmp/q" > /dev/null 2> "$tmp/err" && fail "quantize --device cuda succeeded"
grep -q "no CUDA device found" "$tmp/err" || fail "quantize --device cuda: $(cat "$tmp/err")"
[ ! -e "$tmp/q" ] && [ ! -e "$tmp/q.partial" ] || fail "quantize --device cuda wrote before refusing"
"$row" --model "$model" --data-dir "$shared/data" --results "$tmp/rows" --device cuda > /dev/null 2> "$tmp/err" &&
  fail "the row ran with --device cuda without a device"
grep -q "no CUDA device found" "$tmp/err" || fail "row --device cuda: $(cat "$tmp/err")"
[ ! -e "$tmp/rows/models" ] || fail "the row started quantizing before refusing the device"
echo "ok: without a CUDA device, --device cuda is refused at once: $(cat "$tmp/err")"
