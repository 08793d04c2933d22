#!/usr/bin/env python3
"""Golden data for the Qwen2 forward-pass tests, made with the reference implementation
(Hugging Face transformers on torch CPU, float32, eager attention).

Writes under tests/data/ (small files, committed):
  tiny_qwen2_tied/    config.json + model.safetensors (F32 weights, tied lm_head, 4 q / 2 kv heads)
                      + golden.safetensors: ids_<i> (I32, T) and logits_<i> (F32, T x V) per sequence
  tiny_qwen2_untied/  the same with BF16 weights, untied lm_head, 8 q / 2 kv heads (head_dim 8)
  qwen2_micro_wikitext.safetensors: the first 1024 ids of WikiText-2 test ("\\n\\n".join of the rows,
                      Hugging Face tokenizers) and transformers' log p(ids[t+1] | ids[..t]) from
                      ../shared/models/qwen2-micro (float32 compute), t < 1023.
Golden files are safetensors with __metadata__ {format: ptq-golden, version: 1, regenerate: <command>}.

Usage: python tools/golden/make_qwen2_golden.py [--shared ../shared] [--out tests/data]
Needs (PyPI): torch, transformers, tokenizers, safetensors. Not a runtime dependency of ptq.
"""
import argparse
import json
import pathlib

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import Qwen2Config, Qwen2ForCausalLM

META = {"format": "ptq-golden", "version": "1", "regenerate": "python tools/golden/make_qwen2_golden.py"}


def randomize(model, gen):
    """Non-trivial weights: non-zero q/k/v biases, norms away from 1, weights large enough to matter."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=gen))


def tiny_model(out_dir, tied, dtype, heads, kv_heads, theta, seed):
    gen = torch.Generator().manual_seed(seed)
    cfg = Qwen2Config(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=256,
                      rope_theta=theta, rms_norm_eps=1e-6, tie_word_embeddings=tied, torch_dtype=dtype,
                      attn_implementation="eager")
    model = Qwen2ForCausalLM(cfg).eval()
    randomize(model, gen)
    model = model.to(dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    # Reload the saved checkpoint in float32 (the stored, rounded weights computed in float32). Casting
    # the in-memory model instead would also round RoPE's inv_freq buffer to the storage dtype.
    ref = Qwen2ForCausalLM.from_pretrained(out_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
    golden = {}
    for i, length in enumerate([1, 9, 64, 200]):
        ids = torch.randint(0, cfg.vocab_size, (1, length), generator=gen)
        with torch.no_grad():
            logits = ref(ids).logits[0].float()
        golden[f"ids_{i}"] = ids[0].to(torch.int32).contiguous()
        golden[f"logits_{i}"] = logits.contiguous()
    save_file(golden, str(out_dir / "golden.safetensors"), metadata=META)
    for extra in ("generation_config.json",):
        (out_dir / extra).unlink(missing_ok=True)
    print(f"{out_dir}: {sum(p.numel() for p in model.parameters())} parameters")


def micro_golden(shared, out_file):
    tok = Tokenizer.from_file(str(shared / "tokenizer/qwen2.5/tokenizer.json"))
    rows = [json.loads(line)["text"] for line in open(shared / "data/wikitext-2-raw-v1/test.jsonl", encoding="utf-8")]
    ids = tok.encode("\n\n".join(rows), add_special_tokens=False).ids
    print(f"wikitext-2 test: {len(ids)} tokens")
    ids = torch.tensor(ids[:1024], dtype=torch.int64)[None]
    model = Qwen2ForCausalLM.from_pretrained(shared / "models/qwen2-micro", torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
    target = logp[:-1].gather(1, ids[0, 1:, None])[:, 0]
    save_file({"ids": ids[0].to(torch.int32).contiguous(), "logprobs": target.contiguous()}, str(out_file),
              metadata=META)
    print(f"{out_file}: mean nll {-target.mean().item():.6f}")


def main():
    here = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=pathlib.Path, default=here / "../shared")
    ap.add_argument("--out", type=pathlib.Path, default=here / "tests/data")
    a = ap.parse_args()
    torch.manual_seed(0)
    tiny_model(a.out / "tiny_qwen2_tied", True, torch.float32, 4, 2, 1e6, seed=1)
    tiny_model(a.out / "tiny_qwen2_untied", False, torch.bfloat16, 8, 2, 1e4, seed=2)
    micro_golden(a.shared.resolve(), a.out / "qwen2_micro_wikitext.safetensors")


if __name__ == "__main__":
    main()
