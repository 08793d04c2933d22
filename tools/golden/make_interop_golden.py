#!/usr/bin/env python3
"""GPTQ v1 and AWQ GEMM checkpoints packed by the reference packers, and a check of ptq's own exports with the
reference unpackers.

The packers and dequantizers are the packages' own code, imported from their source distributions (they
build CUDA extensions, which are not needed here): GPTQModel 7.7.0 `TorchLinear.pack` followed by its
`convert_gptq_v2_to_v1_format_module` (what GPTQModel does on save), and AutoAWQ 0.2.9 `WQLinear_GEMM.from_linear`
with `awq.utils.packing_utils.dequantize_gemm`. `pip download --no-deps gptqmodel==7.7.0 autoawq==0.2.9` fetches
them; pass the unpacked folders with --gptqmodel / --autoawq.

1. `golden`: a tiny random Qwen2 (seeded; shapes that both packers accept) is quantized (RTN grids) and packed into
   tests/data/interop/<case>/ for the cases gptq_w4g32s (desc_act false), gptq_w4g32a_actorder (desc_act with a
   permuted g_idx), gptq_w8g32s, awq_w4g32a; tests/data/interop/reference_dequant.safetensors holds each linear's
   weights as the reference's dequantizer computes them (float32 scales: exact), "<case>.<linear>" (out, in).
   tests/quant/test_interop.cpp reads every checkpoint and checks ptq's dequantized weights are identical.
2. `exports`: runs `ptq quantize` on ../shared/models/qwen2-micro (RTN w4g128 asym; GPTQ w4g128 sym with
   act-order), `ptq export --format gptq|awq`, and checks that the reference dequantizers read the exported
   tensors to exactly the weights of ptq's native checkpoint. Prints one line per export.
3. `mixed`: `ptq quantize --mixed` (GPTQ, 3.6 bits per weight from w3g128a, w4g128s, w8g128s) on qwen2-micro, then
   `ptq export --format gptq`; GPTQModel's own config parser (QuantizeConfig.from_quant_config, dynamic_get) reads
   the exported "dynamic" quantization_config, each linear is dequantized by GPTQModel's TorchLinear built with the
   scheme GPTQModel resolves for it and compared with ptq's native checkpoint (must be identical), and
   tests/data/interop/mixed_dynamic.json records the config with GPTQModel's per-module answer (bits, group_size,
   sym): tests/quant/test_mixed.cpp checks ptq's reader and writer against it.

Usage: python tools/golden/make_interop_golden.py --gptqmodel DIR --autoawq DIR [--ptq build/tools/ptq]
       [--shared ../shared] [--parts golden,exports,mixed]   (--autoawq is not needed for mixed alone)
Needs (PyPI): torch, transformers, safetensors, numpy, and GPTQModel's pure-Python imports (pypcre, tokenicer,
logbar, device-smi, threadpoolctl, defuser, pillow, torchao).
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
           "mlp.up_proj", "mlp.down_proj"]
META = {"format": "ptq-golden", "version": "1", "regenerate": "python tools/golden/make_interop_golden.py"}


def rtn_grid(w, bits, group, sym):
    """IST-DASLab/gptq Quantizer grids per (row, group), scales rounded to fp16: (scales, zeros) [out, G]."""
    maxq = 2 ** bits - 1
    g = w.reshape(w.shape[0], -1, group)
    xmin = torch.clamp(g.amin(-1), max=0)
    xmax = torch.clamp(g.amax(-1), min=0)
    if sym:
        xmax = torch.maximum(-xmin, xmax)
        xmin = torch.where(xmin < 0, -xmax, xmin)
    scale = ((xmax - xmin) / maxq).half().float()
    zero = torch.full_like(scale, (maxq + 1) // 2) if sym else torch.round(-xmin / scale)
    return scale, zero


def gptq_module(gptqmodel, bits, group, sym, desc_act, k, n):
    from gptqmodel.nn_modules.qlinear.torch import TorchLinear
    m = TorchLinear(bits=bits, group_size=group, sym=sym, desc_act=desc_act, in_features=k, out_features=n,
                    bias=False, pack_dtype=torch.int32)
    return m


def gptq_pack(w, bits, group, sym, g_idx):
    """GPTQModel: pack (v2 zeros), dequantize (the reference's weights), convert to v1 (as saved)."""
    from gptqmodel.utils.model import convert_gptq_v2_to_v1_format_module
    from gptqmodel.quantization import QuantizeConfig
    n, k = w.shape
    wg = w[:, torch.argsort(g_idx, stable=True)] if g_idx is not None else w
    scale, zero = rtn_grid(wg, bits, group, sym)
    lin = torch.nn.Linear(k, n, bias=False)
    lin.weight.data = w.clone()
    m = gptq_module(None, bits, group, sym, g_idx is not None, k, n)
    gi = g_idx if g_idx is not None else torch.arange(k, dtype=torch.int32) // group
    m.pack(lin, scale, zero, gi.to(torch.int32))
    m.post_init()
    m.scales = m.scales.float()  # exact float32 dequantization
    ref = m.dequantize_weight().T.contiguous().float()
    m.scales = m.scales.half()
    convert_gptq_v2_to_v1_format_module(m, QuantizeConfig(bits=bits, group_size=group, sym=sym, desc_act=g_idx is not None))
    return {"qweight": m.qweight.contiguous(), "qzeros": m.qzeros.contiguous(), "scales": m.scales.contiguous(),
            "g_idx": m.g_idx.to(torch.int32).contiguous()}, ref


def awq_pack(w, group):
    """AutoAWQ: WQLinear_GEMM.from_linear from pseudo_quantize_tensor's grids; dequantize_gemm (float32 scales)."""
    from awq.modules.linear.gemm import WQLinear_GEMM
    from awq.utils.packing_utils import dequantize_gemm
    n, k = w.shape
    g = w.reshape(-1, group)
    mx, mn = g.amax(1, keepdim=True), g.amin(1, keepdim=True)
    scales = ((mx - mn).clamp(min=1e-5) / 15).half().float()
    zeros = (-torch.round(mn / scales)).clamp(0, 15)
    lin = torch.nn.Linear(k, n, bias=False)
    lin.weight.data = w.clone()
    q = WQLinear_GEMM.from_linear(lin, 4, group, scales=scales.view(n, -1).T.contiguous().half(),
                                  zeros=zeros.view(n, -1).T.contiguous())
    ref = dequantize_gemm(q.qweight, q.qzeros, q.scales.float(), 4, group).T.contiguous().float()
    return {"qweight": q.qweight.contiguous(), "qzeros": q.qzeros.contiguous(), "scales": q.scales.contiguous()}, ref


CASES = {  # name: (format, bits, group, sym, act-order)
    "gptq_w4g32s": ("gptq", 4, 32, True, False),
    "gptq_w4g32a_actorder": ("gptq", 4, 32, False, True),
    "gptq_w8g32s": ("gptq", 8, 32, True, False),
    "awq_w4g32a": ("awq", 4, 32, False, False),
}


def make_golden(out_dir):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    cfg = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, vocab_size=256, max_position_embeddings=256, tie_word_embeddings=False,
                      rope_theta=10000.0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16).eval()
    base = {k: v.contiguous() for k, v in model.state_dict().items()}
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    reference = {}
    for case, (fmt, bits, group, sym, actorder) in CASES.items():
        d = out_dir / case
        d.mkdir()
        tensors = {}
        gen = torch.Generator().manual_seed(len(case))
        for name, t in base.items():
            prefix = name.rsplit(".", 1)[0]
            if name.endswith(".weight") and any(prefix.endswith(l) for l in LINEARS):
                w = t.float()
                if fmt == "gptq":
                    g_idx = None
                    if actorder:  # a desc_act-style order: group of channel perm[i] is i // group
                        perm = torch.randperm(w.shape[1], generator=gen)
                        g_idx = torch.empty(w.shape[1], dtype=torch.int32)
                        g_idx[perm] = torch.arange(w.shape[1], dtype=torch.int32) // group
                    packed, ref = gptq_pack(w, bits, group, sym, g_idx)
                else:
                    packed, ref = awq_pack(w, group)
                for k, v in packed.items():
                    tensors[f"{prefix}.{k}"] = v
                reference[f"{case}.{prefix}"] = ref
            else:
                tensors[name] = t
        save_file(tensors, str(d / "model.safetensors"), metadata={"format": "pt"})
        config = json.loads(cfg.to_json_string())
        config["torch_dtype"] = "bfloat16"
        if fmt == "gptq":
            config["quantization_config"] = {"quant_method": "gptq", "bits": bits, "group_size": group,
                                             "desc_act": actorder, "sym": sym, "checkpoint_format": "gptq"}
        else:
            config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": group,
                                             "zero_point": True, "version": "gemm"}
        (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        print(f"wrote {d}")
    save_file(reference, str(out_dir / "reference_dequant.safetensors"), metadata=META)
    print(f"wrote {out_dir / 'reference_dequant.safetensors'} ({len(reference)} linears)")


def native_dequant(t, prefix, bits, group_size):
    """ptq's native layout (include/ptq/quant/packed.hpp) in numpy: rows of little-endian code bitstreams."""
    qw = t[prefix + ".qweight"].numpy().view(np.uint32)
    sc = t[prefix + ".scales"].float().numpy()
    qz = t[prefix + ".qzeros"].numpy().view(np.uint32)
    n, groups = sc.shape

    def codes(words, count):
        bits_le = np.unpackbits(words.view(np.uint8).reshape(words.shape[0], -1), axis=1, bitorder="little")
        b = bits_le[:, :count * bits].reshape(words.shape[0], count, bits)
        return (b * (1 << np.arange(bits))).sum(-1)

    k = qw.shape[1] * 32 // bits
    q = codes(qw, k)
    z = codes(qz, groups)
    g_idx = t[prefix + ".g_idx"].numpy() if prefix + ".g_idx" in t else np.arange(k) // group_size
    return torch.from_numpy((sc[:, g_idx] * (q - z[:, g_idx])).astype(np.float32))


def check_exports(ptq, shared):
    from gptqmodel.utils.model import convert_gptq_v1_to_v2_format_module
    from awq.utils.packing_utils import dequantize_gemm
    model = shared / "models/qwen2-micro"
    calib = shared / "data/wikitext-2-raw-v1/validation.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        runs = {"rtn_w4g128a": ["--method", "rtn", "--asym"],
                "gptq_w4g128s_actorder": ["--method", "gptq", "--act-order", "--nsamples", "16", "--seqlen", "256"]}
        for name, args in runs.items():
            native = tmp / name
            subprocess.run([ptq, "quantize", "--model", str(model), "--bits", "4", "--group", "128", "--calib",
                            str(calib), "--out", str(native), "--json", *args], check=True, capture_output=True)
            nt = load_file(str(native / "model.safetensors"))
            for fmt in ("gptq", "awq"):
                out = tmp / f"{name}-{fmt}"
                r = subprocess.run([ptq, "export", "--model", str(native), "--format", fmt, "--out", str(out)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"{name} -> {fmt}: refused, as it should be where the format cannot express it: "
                          f"{r.stderr.strip()}")
                    continue
                et = load_file(str(out / "model.safetensors"))
                qc = json.loads((out / "config.json").read_text())["quantization_config"]
                worst = 0.0
                for layer in range(6):
                    for lin in LINEARS:
                        prefix = f"model.layers.{layer}.{lin}"
                        ours = native_dequant(nt, prefix, 4, 128)
                        if fmt == "gptq":
                            m = gptq_module(None, 4, qc["group_size"], qc["sym"], qc["desc_act"], ours.shape[1],
                                            ours.shape[0])
                            for key in ("qweight", "qzeros", "scales", "g_idx"):
                                setattr(m, key, et[f"{prefix}.{key}"].clone())
                            convert_gptq_v1_to_v2_format_module(m, 4, torch.int32)
                            m.post_init()
                            m.scales = m.scales.float()
                            theirs = m.dequantize_weight().T.float()
                        else:
                            theirs = dequantize_gemm(et[f"{prefix}.qweight"], et[f"{prefix}.qzeros"],
                                                     et[f"{prefix}.scales"].float(), 4, 128).T.float()
                        worst = max(worst, (ours - theirs).abs().max().item())
                print(f"{name} -> {fmt}: reference dequantization vs ptq native, 42 linears: max |diff| = {worst}"
                      f" ({'identical' if worst == 0 else 'DIFFERENT'})")
                if worst != 0:
                    sys.exit(1)


def check_mixed(ptq, shared, out_dir):
    from gptqmodel.quantization import QuantizeConfig
    from gptqmodel.utils.model import convert_gptq_v1_to_v2_format_module
    # Paths relative to the repository (run from there): the golden records the config, whose meta names them.
    root = pathlib.Path(__file__).resolve().parents[2]
    model = pathlib.Path(os.path.relpath(shared / "models/qwen2-micro", root))
    calib = pathlib.Path(os.path.relpath(shared / "data/wikitext-2-raw-v1/validation.jsonl", root))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        native, exported = tmp / "mixed", tmp / "mixed-gptq"
        subprocess.run([ptq, "quantize", "--model", str(model), "--method", "gptq", "--mixed", "--budget-bits", "3.6",
                        "--candidates", "w3g128a,w4g128s,w8g128s", "--nsamples", "16", "--seqlen", "256", "--calib",
                        str(calib), "--out", str(native), "--json"], check=True, capture_output=True, cwd=root)
        subprocess.run([ptq, "export", "--model", str(native), "--format", "gptq", "--out", str(exported)], check=True,
                       capture_output=True, cwd=root)
        qc = json.loads((exported / "config.json").read_text())["quantization_config"]
        cfg = QuantizeConfig.from_quant_config(qc)
        nt, et = load_file(str(native / "model.safetensors")), load_file(str(exported / "model.safetensors"))
        modules, worst = {}, 0.0
        for layer in range(6):
            for lin in LINEARS:
                prefix = f"model.layers.{layer}.{lin}"
                bits = cfg.dynamic_get(layer_name=prefix, key="bits", default=cfg.bits)
                group = cfg.dynamic_get(layer_name=prefix, key="group_size", default=cfg.group_size)
                sym = cfg.dynamic_get(layer_name=prefix, key="sym", default=cfg.sym)
                modules[prefix] = {"bits": int(bits), "group_size": int(group), "sym": bool(sym)}
                ours = native_dequant(nt, prefix, int(bits), int(group))
                m = gptq_module(None, int(bits), int(group), bool(sym), False, ours.shape[1], ours.shape[0])
                for key in ("qweight", "qzeros", "scales", "g_idx"):
                    setattr(m, key, et[f"{prefix}.{key}"].clone())
                convert_gptq_v1_to_v2_format_module(m, int(bits), torch.int32)
                m.post_init()
                m.scales = m.scales.float()
                worst = max(worst, (ours - m.dequantize_weight().T.float()).abs().max().item())
        schemes = sorted({(v["bits"], v["group_size"], v["sym"]) for v in modules.values()})
        print(f"mixed -> gptq: GPTQModel resolves {len(qc.get('dynamic', {}))} dynamic entries over base "
              f"w{cfg.bits}g{cfg.group_size}; schemes {schemes}; its dequantization vs ptq native, 42 linears: "
              f"max |diff| = {worst} ({'identical' if worst == 0 else 'DIFFERENT'})")
        if worst != 0 or len(schemes) < 2:
            sys.exit(1)
        golden = {"meta": META, "quantization_config": qc, "modules": modules}
        (out_dir / "mixed_dynamic.json").write_text(json.dumps(golden, indent=1) + "\n")
        print(f"wrote {out_dir / 'mixed_dynamic.json'}")


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gptqmodel", type=pathlib.Path, required=True, help="unpacked gptqmodel-7.7.0 sdist")
    ap.add_argument("--autoawq", type=pathlib.Path, help="unpacked autoawq-0.2.9 sdist (golden, exports)")
    ap.add_argument("--ptq", default=str(root / "build/tools/ptq"))
    ap.add_argument("--shared", type=pathlib.Path, default=root / "../shared")
    ap.add_argument("--out", type=pathlib.Path, default=root / "tests/data/interop")
    ap.add_argument("--parts", default="golden,exports,mixed")
    a = ap.parse_args()
    parts = a.parts.split(",")
    if a.autoawq is None and ("golden" in parts or "exports" in parts):
        ap.error("--autoawq is needed for the golden and exports parts")
    sys.path[:0] = [str(a.gptqmodel.resolve())] + ([str(a.autoawq.resolve())] if a.autoawq else [])
    if "golden" in parts:
        make_golden(a.out)
    if "exports" in parts:
        check_exports(a.ptq, a.shared.resolve())
    if "mixed" in parts:
        check_mixed(a.ptq, a.shared.resolve(), a.out)


if __name__ == "__main__":
    main()
