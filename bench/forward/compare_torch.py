#!/usr/bin/env python3
"""Prefill throughput: ptq's CPU forward pass against transformers on torch CPU, in the same run.

Both score one window of T random tokens: forward pass, then log p(next token) for every position
(ptq: fused over vocabulary panels; torch: logits -> log_softmax -> gather, as perplexity scripts do).
torch runs the model in float32 and in bfloat16 (the checkpoints' storage dtype); ptq runs its linears on the
product path(s) given (--ptq-matmul: auto picks bf16 where the CPU multiplies bf16 natively, f32 elsewhere), and
each row names the path and what ran it. Medians of --reps runs after one warm-up; the ratio columns are ptq
tokens/s over torch tokens/s. The CPU's model name and matrix features are printed first.

  python bench/forward/compare_torch.py --bench build/bench/bench_prefill --tokens 512 --reps 5 [--ptq-matmul f32 bf16]
Needs (PyPI, bench only): torch, transformers.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

SHAPES = {"0.5B": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                       num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True)}


def torch_prefill(model, vocab, tokens, reps):
    gen = torch.Generator().manual_seed(42)
    ids = torch.randint(0, vocab, (1, tokens), generator=gen)
    times = []
    with torch.inference_mode():
        for r in range(reps + 1):
            t0 = time.perf_counter()
            logits = model(ids).logits[0].float()
            torch.log_softmax(logits, -1)[:-1].gather(1, ids[0, 1:, None])
            if r:
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(root / "build/bench/bench_prefill"))
    ap.add_argument("--model", default=str(root / "../shared/models/qwen2-micro"))
    ap.add_argument("--synthetic", default="0.5B")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ptq-matmul", nargs="+", default=["auto"],
                    help="ptq's product path(s) for the linears: auto (bf16 where the CPU has native bf16), f32, bf16")
    a = ap.parse_args()

    out = subprocess.run([a.bench, "--model", a.model, "--synthetic", a.synthetic, "--tokens", str(a.tokens),
                          "--reps", str(a.reps), "--matmul", *a.ptq_matmul],
                         check=True, capture_output=True, text=True).stdout
    ours = [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    rows, torch_tps = [], {}
    for rec in ours:
        if rec["model"] in torch_tps:  # another ptq path on the same model: torch ran already
            rows.append((rec["model"], rec["matmul"], rec["tokens_per_s"], *torch_tps[rec["model"]]))
            continue
        if rec["model"].startswith("synthetic"):
            cfg = Qwen2Config(**SHAPES[a.synthetic], rope_theta=1e6, attn_implementation="sdpa")
            base = Qwen2ForCausalLM(cfg).eval()
        else:
            base = Qwen2ForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).eval()
        vocab = base.config.vocab_size
        t32 = torch_prefill(base.float(), vocab, a.tokens, a.reps)
        t16 = torch_prefill(base.to(torch.bfloat16), vocab, a.tokens, a.reps)
        torch_tps[rec["model"]] = (a.tokens / t32, a.tokens / t16)
        rows.append((rec["model"], rec["matmul"], rec["tokens_per_s"], *torch_tps[rec["model"]]))
        del base

    print(f"prefill, T={a.tokens}, torch {torch.__version__} with {torch.get_num_threads()} threads "
          f"(CPU capability {torch.backends.cpu.get_cpu_capability()}), ptq with {ours[0]['threads']} threads, "
          f"median of {a.reps}")
    print(f"CPU: {ours[0]['cpu']} [{' '.join(ours[0]['cpu_features'])}]")
    print("| model | ptq product | ptq tok/s | torch fp32 tok/s | torch bf16 tok/s | ptq / torch fp32 | ptq / torch bf16 |")
    print("|---|---|---|---|---|---|---|")
    for name, path, p, t32, t16 in rows:
        print(f"| {name} | {path} | {p:.1f} | {t32:.1f} | {t16:.1f} | {p / t32:.2f}x | {p / t16:.2f}x |")


if __name__ == "__main__":
    main()
