#!/usr/bin/env python3
"""Golden data for the evaluation harness, from the real reference tools run on CPU:
lm-evaluation-harness (PyPI `lm-eval`, Hugging Face backend, float32) on ../shared/models/qwen2-micro with the
local data files of ../shared/data (converted to the Hugging Face layouts lm-eval's task YAMLs expect, in a
temporary folder; nothing is downloaded), and transformers for the GPTQ-protocol perplexity.

Writes tests/data/eval_golden.json:
  tasks.<task>.docs[i]   lm-eval --limit 100 --log_samples: target, per-request loglikelihood and is_greedy,
                         acc / acc_norm per document; tasks.<task>.metrics: lm-eval's metric values and stderrs;
                         loglikelihood_f64: the same requests through transformers with a float64 log-softmax
                         (lm-eval's float32 log-softmax over 151,936 logits is off by up to ~1e-4 nats a token)
  requests.<task>[i]     for the first 200 documents: sha256 (first 16 hex digits) of each request's context and continuation strings
                         (lm-eval's own construction) and of the ids of encode(context) and
                         encode(context + continuation) (Hugging Face tokenizers), with the id counts
  wikitext_lm_eval       lm-eval `wikitext` at max_length 512 on the first 12 pages: word_perplexity,
                         byte_perplexity, bits_per_byte, and each page's rolling log-likelihood
  wikitext_lm_eval_all   the same metrics over all 62 pages
  ppl_gptq.<seqlen>      per-window NLL sums (transformers, float32 model, float64 log-softmax) at seqlen 512, 2048
MMLU uses 4 subjects (one per category) to keep the file small.

Usage: python tools/golden/make_eval_golden.py [--shared ../shared] [--out tests/data/eval_golden.json]
Needs (PyPI): lm-eval, transformers, torch, tokenizers, datasets. Not a runtime dependency of ptq.
"""
import argparse
import csv
import hashlib
import json
import math
import os
import pathlib
import struct
import tempfile

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lm_eval  # noqa: E402
import torch  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from make_tokenizer_golden import pages as wikitext_pages  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import Qwen2ForCausalLM  # noqa: E402

LM_EVAL_TASKS = pathlib.Path(lm_eval.__file__).parent / "tasks"
MMLU_SUBJECTS = ["abstract_algebra", "high_school_geography", "philosophy", "virology"]  # stem, social, humanities, other
LIMIT_SCORED = 100
LIMIT_REQUESTS = 200
WIKITEXT_PAGES = 12  # lm-eval's HF backend needs ~30 min for all 62 pages on 2 CPU cores


def sha(s):  # the first 16 hex digits of sha256 (64 bits) keep the golden file small
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def sha_ids(ids):
    return hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()[:16]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def convert_data(shared, tmp):
    """The local files in the layouts of the Hugging Face datasets lm-eval's YAMLs name."""
    d = shared / "data"
    for name, folder, file in [("arc_easy", "arc_easy", "ARC-Easy-Test.jsonl"),
                               ("arc_challenge", "arc_challenge", "ARC-Challenge-Test.jsonl")]:
        rows = [{"id": r["id"], "question": r["question"]["stem"],
                 "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                             "label": [c["label"] for c in r["question"]["choices"]]},
                 "answerKey": r["answerKey"]} for r in read_jsonl(d / folder / file)]
        write_jsonl(tmp / f"{name}.jsonl", rows)
    hs = [dict(r, label=str(r["label"])) for r in read_jsonl(d / "hellaswag/hellaswag_val_subset1000.jsonl")]
    write_jsonl(tmp / "hellaswag.jsonl", hs)
    labels = [int(x) for x in open(d / "piqa/valid-labels.lst").read().split()]
    write_jsonl(tmp / "piqa.jsonl", [dict(r, label=l) for r, l in zip(read_jsonl(d / "piqa/valid.jsonl"), labels)])
    write_jsonl(tmp / "winogrande.jsonl", read_jsonl(d / "winogrande/dev.jsonl"))
    for subject in MMLU_SUBJECTS:
        for split in ("test", "dev"):
            with open(d / f"mmlu/hf_cais_mmlu/{split}/{subject}_{split}.csv", newline="", encoding="utf-8") as f:
                rows = [{"question": r["question"], "subject": subject,
                         "choices": [r["choice0"], r["choice1"], r["choice2"], r["choice3"]], "answer": int(r["answer"])}
                        for r in csv.DictReader(f)]
            write_jsonl(tmp / f"mmlu_{subject}_{split}.jsonl", rows)
    raw = open(d / "wikitext-2-raw-v1/wiki.test.raw", encoding="utf-8").read()
    pages = wikitext_pages(raw)  # EleutherAI/wikitext_document_level's split
    write_jsonl(tmp / "wikitext.jsonl", [{"page": p} for p in pages])


def write_task_yamls(tmp):
    def task(name, include, split_key, data, extra=""):
        (tmp / f"{name}.yaml").write_text(
            f"include: {include}\ntask: {name}\ndataset_path: json\ndataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n    {split_key}: {data}\n"
            "training_split: null\n" + extra)
    task("ptq_arc_easy", LM_EVAL_TASKS / "arc/arc_easy.yaml", "test", tmp / "arc_easy.jsonl",
         "validation_split: null\ntest_split: test\ntag: []\n")
    task("ptq_arc_challenge", LM_EVAL_TASKS / "arc/arc_easy.yaml", "test", tmp / "arc_challenge.jsonl",
         "validation_split: null\ntest_split: test\ntag: []\n")
    task("ptq_hellaswag", LM_EVAL_TASKS / "hellaswag/hellaswag.yaml", "validation", tmp / "hellaswag.jsonl",
         "validation_split: validation\ntag: []\n")
    task("ptq_piqa", LM_EVAL_TASKS / "piqa/piqa.yaml", "validation", tmp / "piqa.jsonl", "validation_split: validation\n")
    task("ptq_winogrande", LM_EVAL_TASKS / "winogrande/default.yaml", "validation", tmp / "winogrande.jsonl",
         "validation_split: validation\n")
    task("ptq_wikitext", LM_EVAL_TASKS / "wikitext/wikitext.yaml", "test", tmp / "wikitext.jsonl",
         "validation_split: null\ntest_split: test\n")
    for s in MMLU_SUBJECTS:
        (tmp / f"ptq_mmlu_{s}.yaml").write_text(
            f"include: {LM_EVAL_TASKS / 'mmlu/default/_default_template_yaml'}\ntask: ptq_mmlu_{s}\n"
            f"dataset_path: json\ndataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n    test: {tmp / f'mmlu_{s}_test.jsonl'}\n    dev: {tmp / f'mmlu_{s}_dev.jsonl'}\n"
            f"description: \"The following are multiple choice questions (with answers) about {s.replace('_', ' ')}.\\n\\n\"\n")


CHOICE_TASKS = {"ptq_arc_easy": "arc_easy", "ptq_arc_challenge": "arc_challenge", "ptq_hellaswag": "hellaswag",
                "ptq_piqa": "piqa", "ptq_winogrande": "winogrande", **{f"ptq_mmlu_{s}": f"mmlu_{s}" for s in MMLU_SUBJECTS}}


def requests_golden(tm, tok):
    """lm-eval's own request strings for the first 200 documents, with their token ids (encode_pair)."""
    out = {}
    for name, key in CHOICE_TASKS.items():
        task = tm.load([name])["tasks"][name] if hasattr(tm, "load") else tm.load_task_or_group([name])[name]
        task.build_all_requests(limit=LIMIT_REQUESTS, rank=0, world_size=1)
        per_doc = {}
        for inst in task.instances:
            ctx, cont = inst.arguments
            n_spaces = len(ctx) - len(ctx.rstrip())
            c2, k2 = (ctx[:-n_spaces], ctx[-n_spaces:] + cont) if n_spaces else (ctx, cont)
            whole, cids = tok.encode(c2 + k2, add_special_tokens=False).ids, tok.encode(c2, add_special_tokens=False).ids
            per_doc.setdefault(inst.doc_id, []).append(
                {"context": sha(ctx), "continuation": sha(cont), "context_ids": sha_ids(cids),
                 "whole_ids": sha_ids(whole), "n_context": len(cids), "n_whole": len(whole)})
        out[key] = [per_doc[i] for i in sorted(per_doc)]
    return out


def run_lm_eval(tm, model_dir, tasks, limit, model_args=""):
    return lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32{model_args}",
                                   tasks=tasks, limit=limit, log_samples=True, task_manager=tm, batch_size=16,
                                   device="cpu", bootstrap_iters=1000)  # standard errors (mean_stderr) on


def f64_loglikelihoods(model, tok, samples):
    """Each request's log-likelihood with lm-eval's _encode_pair and input window, float64 log-softmax."""
    out = []
    for s in samples:
        lls = []
        for ctx, cont in s["arguments"] if isinstance(s["arguments"][0], (list, tuple)) else [s["arguments"]]:
            n_spaces = len(ctx) - len(ctx.rstrip())
            if n_spaces:
                ctx, cont = ctx[:-n_spaces], ctx[-n_spaces:] + cont
            whole = tok.encode(ctx + cont, add_special_tokens=False).ids
            n_ctx = len(tok.encode(ctx, add_special_tokens=False).ids)
            x = torch.tensor(whole)[None]
            with torch.no_grad():
                logits = model(x).logits[0, n_ctx - 1:len(whole) - 1].double()
            lls.append(torch.log_softmax(logits, -1).gather(1, x[0, n_ctx:, None]).sum().item())
        out.append(lls)
    return out


def arguments_of(sample):
    args = sample["arguments"]
    return [list(a.values()) if isinstance(a, dict) else list(a) for a in (args.values() if isinstance(args, dict) else args)]


def scored_golden(res, model_dir, tok):
    model = Qwen2ForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    out = {}
    for name, key in CHOICE_TASKS.items():
        docs = []
        samples = sorted(res["samples"][name], key=lambda s: s["doc_id"])
        f64 = f64_loglikelihoods(model, tok, [{"arguments": arguments_of(s)} for s in samples])
        for s, ll64 in zip(samples, f64):
            docs.append({"doc_id": s["doc_id"], "target": s["target"], "loglikelihood_f64": ll64,
                         "loglikelihood": [float(r[0][0]) for r in s["resps"]],
                         "is_greedy": [bool(r[0][1]) for r in s["resps"]],
                         "acc": s["acc"], **({"acc_norm": s["acc_norm"]} if "acc_norm" in s else {})})
        m = res["results"][name]
        out[key] = {"docs": docs, "metrics": {k.split(",")[0]: v for k, v in m.items() if "," in k}}
    return out


def gptq_golden(shared, model_dir, tok):
    rows = [json.loads(line)["text"] for line in open(shared / "data/wikitext-2-raw-v1/test.jsonl", encoding="utf-8")]
    ids = torch.tensor(tok.encode("\n\n".join(rows), add_special_tokens=False).ids)
    model = Qwen2ForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    out = {}
    for seqlen in (512, 2048):
        sums = []
        with torch.no_grad():
            for w in range(ids.numel() // seqlen):
                x = ids[w * seqlen:(w + 1) * seqlen][None]
                logits = model(x).logits[0, :-1]
                nll = 0.0
                for r in range(0, logits.shape[0], 256):  # float64 log-softmax, 256 rows at a time
                    lp = torch.log_softmax(logits[r:r + 256].double(), -1)
                    nll -= lp.gather(1, x[0, 1 + r:1 + r + 256, None]).sum().item()
                sums.append(nll)
        out[str(seqlen)] = {"window_nll_sum": sums, "ppl": math.exp(sum(sums) / (len(sums) * (seqlen - 1)))}
        print(f"gptq protocol seqlen {seqlen}: {len(sums)} windows, ppl {out[str(seqlen)]['ppl']:.6f}")
    return out


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=pathlib.Path, default=root / "../shared")
    ap.add_argument("--out", type=pathlib.Path, default=root / "tests/data/eval_golden.json")
    ap.add_argument("--sections", default="requests,tasks,wikitext_lm_eval,wikitext_lm_eval_all,ppl_gptq",
                    help="sections to (re)compute; the others are kept from an existing --out file")
    a = ap.parse_args()
    shared = a.shared.resolve()
    model_dir = shared / "models/qwen2-micro"
    tok = Tokenizer.from_file(str(shared / "tokenizer/qwen2.5/tokenizer.json"))
    sections = set(a.sections.split(","))
    golden = json.loads(a.out.read_text()) if a.out.exists() else {}
    golden["meta"] = {"format": "ptq-golden", "version": 1, "lm_eval": lm_eval.__version__,
                      "regenerate": "python tools/golden/make_eval_golden.py", "limit": LIMIT_SCORED,
                      "mmlu_subjects": MMLU_SUBJECTS}
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        convert_data(shared, tmp)
        write_task_yamls(tmp)
        tm = TaskManager(include_path=str(tmp))
        if "requests" in sections:
            golden["requests"] = requests_golden(tm, tok)
        if "tasks" in sections:
            golden["tasks"] = scored_golden(run_lm_eval(tm, model_dir, list(CHOICE_TASKS), LIMIT_SCORED), model_dir, tok)
        if "wikitext_lm_eval" in sections:
            wt = run_lm_eval(tm, model_dir, ["ptq_wikitext"], WIKITEXT_PAGES, ",max_length=512")
            w = {k.split(",")[0]: v for k, v in wt["results"]["ptq_wikitext"].items() if "," in k}
            w["max_length"] = 512
            w["pages"] = WIKITEXT_PAGES
            first = lambda r: first(r[0]) if isinstance(r, (list, tuple)) else float(r)
            w["docs_loglikelihood"] = [first(s["resps"]) for s in sorted(wt["samples"]["ptq_wikitext"],
                                                                         key=lambda s: s["doc_id"])]
            golden["wikitext_lm_eval"] = w
            print("lm-eval wikitext:", {k: v for k, v in w.items() if k != "docs_loglikelihood"})
        if "wikitext_lm_eval_all" in sections:  # all 62 pages (~30 min on 2 cores)
            wt = run_lm_eval(tm, model_dir, ["ptq_wikitext"], None, ",max_length=512")
            w = {k.split(",")[0]: v for k, v in wt["results"]["ptq_wikitext"].items() if "," in k and "stderr" not in k}
            golden["wikitext_lm_eval_all"] = dict(w, max_length=512, pages=62)
    if "ppl_gptq" in sections:
        golden["ppl_gptq"] = gptq_golden(shared, model_dir, tok)
    a.out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
