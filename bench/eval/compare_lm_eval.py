#!/usr/bin/env python3
"""Task-evaluation throughput: `ptq eval` against lm-evaluation-harness's Hugging Face backend (CPU, float32),
same model, tasks, data and --limit, in the same run. Reports requests per second of each (wall time of the
whole evaluation, model loading included) and the ratio. Uses tools/golden/make_eval_golden.py's local-data
task definitions for lm-eval (nothing is downloaded).

  python bench/eval/compare_lm_eval.py [--ptq build/tools/ptq] [--limit 100] [--batch-size 16]
Needs (PyPI, bench only): lm-eval, transformers, torch, accelerate.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools/golden"))
import make_eval_golden as g  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

TASKS = ["arc_easy", "arc_challenge", "hellaswag", "piqa", "winogrande"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ptq", default=str(ROOT / "build/tools/ptq"))
    ap.add_argument("--shared", type=pathlib.Path, default=ROOT / "../shared")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    a = ap.parse_args()
    shared = a.shared.resolve()
    model = shared / "models/qwen2-micro"

    t0 = time.perf_counter()
    out = subprocess.run([a.ptq, "eval", "--model", str(model), "--data-dir", str(shared / "data"), "--tasks",
                          ",".join(TASKS), "--limit", str(a.limit), "--json"], check=True, capture_output=True, text=True)
    ptq_secs = time.perf_counter() - t0
    ours = json.loads(out.stdout)

    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        g.convert_data(shared, tmp)
        g.write_task_yamls(tmp)
        tm = TaskManager(include_path=str(tmp))
        t0 = time.perf_counter()
        g.lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32",
                                       tasks=[f"ptq_{x}" for x in TASKS], limit=a.limit, task_manager=tm,
                                       batch_size=a.batch_size, device="cpu", bootstrap_iters=0)
        ref_secs = time.perf_counter() - t0
    requests = sum(ours[x]["requests"] for x in TASKS)  # the same requests on both sides
    print(f"qwen2-micro, tasks {','.join(TASKS)}, --limit {a.limit}, {requests} requests")
    print("| | wall s | requests/s | ratio |")
    print("|---|---|---|---|")
    print(f"| lm-eval HF backend (batch {a.batch_size}) | {ref_secs:.1f} | {requests / ref_secs:.1f} | 1.00x |")
    print(f"| ptq eval | {ptq_secs:.1f} | {requests / ptq_secs:.1f} | {ref_secs / ptq_secs:.2f}x |")


if __name__ == "__main__":
    main()
