#!/usr/bin/env python3
"""Golden data for GPTQ / RTN parity: real weights and calibration activations of two linear layers of
../shared/models/qwen2-micro-outliers, quantized by a faithful torch transcription of IST-DASLab/gptq
(`GPTQ.add_batch`, `GPTQ.fasterquant`, quant.py `Quantizer`). GPTQModel and llm-compressor need CUDA
kernels, so the transcription stands in for them, as the quantization issue allows.

The transcription has one switch, `fp16_scales`: False is the reference exactly (float32 grids); True rounds
each scale to fp16 before computing codes (ptq's convention, so that the packed checkpoint is exactly the
evaluated model). Both results are stored; tests match ptq to the fp16 variant (>= 99.9% identical codes) and
report agreement with the exact reference.

Writes tests/data/quant_golden.safetensors: <layer>.w (BF16 (N, K)), <layer>.x (BF16 (T, K): inputs on 512
WikiText-2 validation tokens), and per case <layer>.<case>.codes (U8 (N, K)) + .scales (F32) + .zeros (F32)
+ .loss for the cases rtn_w4g128s, gptq_w4g128s, gptq_w4g128a, gptq_w3g128a, gptq_w4g128s_actorder.
AWQ (a faithful transcription of AutoAWQ's AwqQuantizer: scale search with duo scaling, folding, clip search,
zero-point grid) of layer 1's MLP: mlp.x (BF16 (T, 128): the MLP input), gate_proj.w / up_proj.w, and per case
awq_w4g128a / awq_w3g128a: <linear>.<case>.codes / .scales / .zeros, mlp.<case>.ratios (F32 [r_mlp, r_down])
and mlp.<case>.error (F64: squared error of the quantized MLP's output against the original).

Usage: python tools/golden/make_quant_golden.py [--shared ../shared] [--out tests/data/quant_golden.safetensors]
Needs (PyPI): torch, transformers, tokenizers, safetensors.
"""
import argparse
import json
import math
import pathlib

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import Qwen2ForCausalLM

META = {"format": "ptq-golden", "version": "1", "regenerate": "python tools/golden/make_quant_golden.py"}
LAYERS = {"q_proj": "model.layers.1.self_attn.q_proj", "down_proj": "model.layers.1.mlp.down_proj",
          "gate_proj": "model.layers.1.mlp.gate_proj"}  # gate_proj's input is the MLP input (for AWQ)


def find_params(x, bits, sym, fp16_scales):
    """quant.py Quantizer.find_params(x, weight=True) for rows of x."""
    maxq = 2 ** bits - 1
    xmin = torch.minimum(x.min(1).values, torch.zeros(x.shape[0]))
    xmax = torch.maximum(x.max(1).values, torch.zeros(x.shape[0]))
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        tmp = xmin < 0
        if torch.any(tmp):
            xmin[tmp] = -xmax[tmp]
    tmp = (xmin == 0) & (xmax == 0)
    xmin[tmp] = -1
    xmax[tmp] = +1
    scale = (xmax - xmin) / maxq
    if fp16_scales:
        scale = scale.half().float()
    zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-xmin / scale)
    return scale, zero


def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero), q


def gptq(W, H, bits, sym, groupsize=128, blocksize=128, percdamp=0.01, actorder=False, fp16_scales=True):
    """GPTQ.fasterquant (static_groups=False), returning codes in original column order and per-group grids."""
    W = W.clone().float()
    H = H.clone()
    maxq = 2 ** bits - 1
    rows, columns = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if actorder:
        perm = torch.argsort(torch.diag(H), descending=True, stable=True)
        W = W[:, perm]
        H = H[perm][:, perm]
        invperm = torch.argsort(perm)
    Losses = torch.zeros_like(W)
    Qcodes = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    ngroups = columns // groupsize
    scales = torch.zeros(rows, ngroups)
    zeros = torch.zeros(rows, ngroups)
    scale = zero = None
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if (i1 + i) % groupsize == 0:
                scale, zero = find_params(W[:, (i1 + i):(i1 + i + groupsize)], bits, sym, fp16_scales)
                scales[:, (i1 + i) // groupsize] = scale
                zeros[:, (i1 + i) // groupsize] = zero
            q, code = quantize(w, scale, zero, maxq)
            Qcodes[:, i1 + i] = code
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Losses[:, i1:i2] = Losses1 / 2
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    if actorder:
        Qcodes = Qcodes[:, invperm]
    return Qcodes, scales, zeros, torch.sum(Losses).item()


def rtn(W, bits, sym, groupsize=128):
    maxq = 2 ** bits - 1
    codes = torch.zeros_like(W)
    scales = torch.zeros(W.shape[0], W.shape[1] // groupsize)
    zeros = torch.zeros_like(scales)
    for g in range(W.shape[1] // groupsize):
        s, z = find_params(W[:, g * groupsize:(g + 1) * groupsize], bits, sym, True)
        _, codes[:, g * groupsize:(g + 1) * groupsize] = quantize(W[:, g * groupsize:(g + 1) * groupsize], s[:, None], z[:, None], maxq)
        scales[:, g], zeros[:, g] = s, z
    return codes, scales, zeros, 0.0


def awq_pseudo_quantize(w, bits, group):
    """AutoAWQ AwqQuantizer.pseudo_quantize_tensor (zero_point=True), scale rounded to fp16 (ptq's convention;
    AutoAWQ computes it in fp16 arithmetic from fp16 weights)."""
    shape = w.shape
    w = w.reshape(-1, group)
    maxq = 2 ** bits - 1
    mx, mn = w.amax(1, keepdim=True), w.amin(1, keepdim=True)
    scales = ((mx - mn).clamp(min=1e-5) / maxq).half().float()
    zeros = (-torch.round(mn / scales)).clamp(0, maxq)
    q = torch.clamp(torch.round(w / scales) + zeros, 0, maxq)
    return ((q - zeros) * scales).reshape(shape), q.reshape(shape), scales.reshape(shape[0], -1), zeros.reshape(shape[0], -1)


def awq_search_scale(x, linears, module, bits, group, n_grid=20):
    """AwqQuantizer._search_best_scale + _compute_best_scale (duo_scaling=True). The original weights are
    restored from an explicit copy: AutoAWQ's `{k: v.cpu()}` snapshot aliases the live weights on a CPU."""
    weight = torch.cat([l.weight for l in linears], dim=0)
    ws = weight.view(-1, group).abs()
    w_mean = (ws / (ws.amax(dim=1, keepdim=True) + 1e-6)).view(weight.shape).mean(0)
    x_mean = x.abs().view(-1, x.shape[-1]).float().sum(0) / x.view(-1, x.shape[-1]).shape[0]
    fp = module(x)
    original = [l.weight.detach().clone() for l in linears]
    best, best_ratio, best_scales = float("inf"), -1, None
    for i in range(n_grid):
        ratio = i / n_grid
        s = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        s[torch.isinf(s)] = 1
        s[torch.isnan(s)] = 1
        for l, w0 in zip(linears, original):
            l.weight.data = awq_pseudo_quantize(w0 * s.view(1, -1), bits, group)[0] / s.view(1, -1)
        loss = (fp - module(x)).float().pow(2).sum().item() / fp.numel()
        if loss < best:
            best, best_ratio, best_scales = loss, ratio, s.clone()
        for l, w0 in zip(linears, original):
            l.weight.data = w0.clone()
    return best_scales, best_ratio


def awq_clip(w, x, bits, group, n_grid=20, max_shrink=0.5, n_sample_token=512):
    """AwqQuantizer._compute_best_clip, then apply_clip: the clamped weight."""
    x = x.view(-1, x.shape[-1]).reshape(1, -1, w.shape[1] // group, group)
    x = x[:, 0::max(1, x.shape[1] // n_sample_token)]
    wg = w.reshape(w.shape[0], 1, -1, group)
    org_max = wg.abs().amax(dim=-1, keepdim=True)
    best_max = org_max.clone()
    min_errs = torch.ones_like(org_max) * 1e9
    org_out = (x * wg).sum(dim=-1)
    for i_s in range(int(max_shrink * n_grid)):
        max_val = org_max * (1 - i_s / n_grid)
        q = awq_pseudo_quantize(torch.clamp(wg, -max_val, max_val).reshape(w.shape), bits, group)[0]
        cur = (x * q.reshape(wg.shape)).sum(dim=-1)
        err = (cur - org_out).pow(2).mean(dim=1).view(min_errs.shape)
        better = err < min_errs
        min_errs[better] = err[better]
        best_max[better] = max_val[better]
    best_max = best_max.squeeze(1)
    return torch.clamp(w.reshape(w.shape[0], -1, group), -best_max, best_max).reshape(w.shape)


def awq_mlp(gate, up, down, x, bits, group=128):
    """AWQ of one Qwen2 MLP as AwqQuantizer.quantize does for a layer's last two groups: search the
    [gate, up] scales (inspecting the MLP) and the [down] scales (inspecting down_proj) on the original
    weights, fold them (up's rows / s_down), clip gate/up/down, quantize."""
    lin = {n: torch.nn.Linear(w.shape[1], w.shape[0], bias=False) for n, w in (("gate", gate), ("up", up), ("down", down))}
    for n, w in (("gate", gate), ("up", up), ("down", down)):
        lin[n].weight.data = w.clone()
    mlp = lambda v: lin["down"](torch.nn.functional.silu(lin["gate"](v)) * lin["up"](v))
    h = torch.nn.functional.silu(lin["gate"](x)) * lin["up"](x)
    s_mlp, r_mlp = awq_search_scale(x, [lin["gate"], lin["up"]], mlp, bits, group)
    s_down, r_down = awq_search_scale(h, [lin["down"]], lin["down"], bits, group)
    w = {"gate": gate * s_mlp.view(1, -1), "up": (up * s_mlp.view(1, -1)) / s_down.view(-1, 1),
         "down": down * s_down.view(1, -1)}
    inputs = {"gate": x / s_mlp, "up": x / s_mlp, "down": h / s_down}
    out = {}
    for n in w:
        deq, q, sc, z = awq_pseudo_quantize(awq_clip(w[n], inputs[n], bits, group), bits, group)
        lin[n].weight.data = deq
        out[n] = (q, sc, z)
    # The folded model: the norm before gate/up divided by s_mlp, i.e. the quantized MLP sees x / s_mlp.
    err = (mlp(x / s_mlp) - (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T).pow(2).sum().item()
    return out, (r_mlp, r_down), err


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=pathlib.Path, default=root / "../shared")
    ap.add_argument("--out", type=pathlib.Path, default=root / "tests/data/quant_golden.safetensors")
    a = ap.parse_args()
    shared = a.shared.resolve()
    tok = Tokenizer.from_file(str(shared / "tokenizer/qwen2.5/tokenizer.json"))
    rows = [json.loads(l)["text"] for l in open(shared / "data/wikitext-2-raw-v1/validation.jsonl", encoding="utf-8")]
    ids = torch.tensor(tok.encode("\n\n".join(rows), add_special_tokens=False).ids[:512])[None]
    model = Qwen2ForCausalLM.from_pretrained(shared / "models/qwen2-micro-outliers", torch_dtype=torch.float32).eval()
    captured = {}
    mods = dict(model.named_modules())
    hooks = [mods[name].register_forward_hook(lambda m, inp, out, key=key: captured.__setitem__(key, inp[0][0].detach()))
             for key, name in LAYERS.items()]
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    out = {}
    for key, name in LAYERS.items():
        if key == "gate_proj":
            continue
        W = mods[name].weight.detach().float()
        X = captured[key].bfloat16().float()  # stored as bf16; both sides start from the rounded inputs
        out[f"{key}.w"] = W.bfloat16().contiguous()
        out[f"{key}.x"] = X.bfloat16().contiguous()
        Xs = math.sqrt(2 / X.shape[0]) * X  # GPTQ.add_batch with one batch of T rows, float32
        H = Xs.T.matmul(Xs)
        cases = {"rtn_w4g128s": lambda fp16: rtn(W, 4, True),
                 "gptq_w4g128s": lambda fp16: gptq(W, H, 4, True, fp16_scales=fp16),
                 "gptq_w4g128a": lambda fp16: gptq(W, H, 4, False, fp16_scales=fp16),
                 "gptq_w3g128a": lambda fp16: gptq(W, H, 3, False, fp16_scales=fp16),
                 "gptq_w4g128s_actorder": lambda fp16: gptq(W, H, 4, True, actorder=True, fp16_scales=fp16)}
        for case, fn in cases.items():
            codes, scales, zeros, loss = fn(True)
            out[f"{key}.{case}.codes"] = codes.to(torch.uint8).contiguous()
            out[f"{key}.{case}.scales"] = scales.contiguous()
            out[f"{key}.{case}.zeros"] = zeros.contiguous()
            out[f"{key}.{case}.loss"] = torch.tensor([loss])
            if case.startswith("gptq"):
                exact, *_ = fn(False)
                out[f"{key}.{case}.codes_exact_reference"] = exact.to(torch.uint8).contiguous()
                agree = (exact == codes).float().mean().item()
                print(f"{key} {case}: fp16-scale variant vs exact reference codes agree on {agree:.4%}")
    # AWQ of layer 1's MLP on the same 512 tokens (bf16-rounded weights and inputs, as stored here).
    rnd = lambda t: t.detach().float().bfloat16().float()
    x = rnd(captured["gate_proj"])
    ws = {n: rnd(mods[f"model.layers.1.mlp.{n}_proj"].weight) for n in ("gate", "up", "down")}
    out["mlp.x"] = x.bfloat16().contiguous()
    for n in ("gate", "up"):
        out[f"{n}_proj.w"] = ws[n].bfloat16().contiguous()
    for bits in (4, 3):
        with torch.no_grad():
            res, ratios, err = awq_mlp(ws["gate"], ws["up"], ws["down"], x, bits)
        case = f"awq_w{bits}g128a"
        for n, (q, sc, z) in res.items():
            out[f"{n}_proj.{case}.codes"] = q.to(torch.uint8).contiguous()
            out[f"{n}_proj.{case}.scales"] = sc.contiguous()
            out[f"{n}_proj.{case}.zeros"] = z.contiguous()
        out[f"mlp.{case}.ratios"] = torch.tensor(ratios, dtype=torch.float32)
        out[f"mlp.{case}.error"] = torch.tensor([err], dtype=torch.float64)
        print(f"AWQ {case}: ratios {ratios}, output error {err:.6g}")
    save_file(out, str(a.out), metadata=META)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
