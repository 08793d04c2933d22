#!/usr/bin/env python3
"""Tokenizer encode throughput on WikiText-2 test: ptq against Hugging Face tokenizers, one thread each,
in the same run. Cold = first encode with a fresh tokenizer; warm = median of --reps further encodes.

  python bench/tokenizer/compare_hf.py [--bench build/bench/bench_tokenize] [--reps 5]
Needs (PyPI, bench only): tokenizers.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before importing tokenizers: one thread, like ptq
from tokenizers import Tokenizer  # noqa: E402


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(root / "build/bench/bench_tokenize"))
    ap.add_argument("--tokenizer", default=str(root / "../shared/tokenizer/qwen2.5"))
    ap.add_argument("--jsonl", default=str(root / "../shared/data/wikitext-2-raw-v1/test.jsonl"))
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    ours = json.loads(subprocess.run([a.bench, "--tokenizer", a.tokenizer, "--jsonl", a.jsonl, "--reps", str(a.reps)],
                                     check=True, capture_output=True, text=True).stdout)
    text = "\n\n".join(json.loads(line)["text"] for line in open(a.jsonl, encoding="utf-8"))
    tok = Tokenizer.from_file(str(pathlib.Path(a.tokenizer) / "tokenizer.json"))
    times = []
    for _ in range(a.reps + 1):
        t0 = time.perf_counter()
        n = len(tok.encode(text, add_special_tokens=False).ids)
        times.append(time.perf_counter() - t0)
    mb = len(text.encode("utf-8")) / 1e6
    hf_cold, hf_warm = mb / times[0], mb / statistics.median(times[1:])
    assert n == ours["ids"], (n, ours["ids"])
    print(f"WikiText-2 test, {mb:.2f} MB, {n} ids, one thread, median of {a.reps}")
    print("| | ptq MB/s | HF tokenizers MB/s | ratio |")
    print("|---|---|---|---|")
    print(f"| cold (fresh tokenizer) | {ours['cold_mb_per_s']:.2f} | {hf_cold:.2f} | {ours['cold_mb_per_s'] / hf_cold:.2f}x |")
    print(f"| warm (caches filled) | {ours['warm_mb_per_s']:.2f} | {hf_warm:.2f} | {ours['warm_mb_per_s'] / hf_warm:.2f}x |")


if __name__ == "__main__":
    main()
