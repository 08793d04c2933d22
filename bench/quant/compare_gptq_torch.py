#!/usr/bin/env python3
"""GPTQ speed: ptq's `gptq_quantize` (build/bench/bench_gptq) against the torch reference (the transcription of
IST-DASLab/gptq `GPTQ.fasterquant` in tools/golden/make_quant_golden.py) on the same shape, threads and
inputs' statistics, in the same run. Prints both medians and the ratio; docs/quantization.md records it.

Usage: python bench/quant/compare_gptq_torch.py [--bench build/bench/bench_gptq] [--n 3584 --k 18944]
       [--rows 2048] [--reps 3] [--threads 2]
"""
import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import time

import torch


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(root / "build/bench/bench_gptq"))
    ap.add_argument("--n", type=int, default=3584)
    ap.add_argument("--k", type=int, default=18944)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="PASSIVE")
    ours = json.loads(subprocess.run([a.bench, "--n", str(a.n), "--k", str(a.k), "--rows", str(a.rows), "--reps",
                                      str(a.reps), "--json"], env=env, check=True, capture_output=True,
                                     text=True).stdout)

    spec = importlib.util.spec_from_file_location("golden", root / "tools/golden/make_quant_golden.py")
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    W = 0.02 * torch.randn(a.n, a.k)
    X = torch.randn(a.rows, a.k)
    X[:, ::97] *= 20
    X *= (2 / a.rows) ** 0.5
    H = X.T @ X
    del X
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        golden.gptq(W, H, 4, True)
        times.append(time.perf_counter() - t0)
    ref = statistics.median(times)
    print(f"shape ({a.n}, {a.k}), W4 g128 sym, {a.threads} threads, median of {a.reps}: "
          f"torch reference {ref:.2f} s, ptq {ours['median_s']:.2f} s -> {ref / ours['median_s']:.2f}x")


if __name__ == "__main__":
    main()
