#!/usr/bin/env python3
"""Golden token ids for the tokenizer tests, from Hugging Face `tokenizers` (the reference).

Writes tests/data/tokenizer_golden.json:
  wikitext_test_joined  count and sha256 (int32 little-endian) of the ids of the WikiText-2 test rows
                        joined with "\\n\\n" (the GPTQ-protocol perplexity text; 299,078 ids)
  wikitext_test_pages   per lm-eval `wikitext` page (62): count and sha256 of the ids of
                        lm_eval's own wikitext_detokenizer(page), and the page's character count
  unicode_cases         seeded random strings (ASCII, CJK, emoji + ZWJ, combining marks, Cyrillic,
                        Arabic, control characters, Unicode spaces, added tokens) with their ids and
                        the reference's decode(encode(text))
Usage: python tools/golden/make_tokenizer_golden.py [--shared ../shared] [--out tests/data/tokenizer_golden.json]
Needs (PyPI): tokenizers, lm-eval (for its detokenizer). Not a runtime dependency of ptq.
"""
import argparse
import hashlib
import json
import pathlib
import random
import struct

from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer
from tokenizers import Tokenizer


def digest(ids):
    return {"count": len(ids), "sha256": hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()}


def pages(raw):
    """EleutherAI/wikitext_document_level's split of a raw file (see ptq/eval/wikitext.hpp)."""
    out, page = [], []
    for line in raw.split("\n"):
        t = line.replace("= = =", "===").replace("= =", "==").strip()
        if t.startswith("= ") and t.endswith(" ="):
            if "\n".join(page).strip():
                out.append("\n".join(page))
            page = []
        page.append(line)
    if "\n".join(page).strip():
        out.append("\n".join(page))
    return out


def random_strings(n, seed):
    rng = random.Random(seed)
    pools = [
        lambda: rng.choice(["the", "Hello", "world", "don't", "I'M", "we'll", "x", "1234567", "3.14", "---"]),
        lambda: "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(1, 4))),
        lambda: rng.choice(["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\u2764\uFE0F"]),
        lambda: rng.choice(["e\u0301", "a\u0308", "n\u0303o", "\u1100\u1161", "A\u030A"]),  # NFC composes these
        lambda: "".join(chr(rng.randint(0x0410, 0x044F)) for _ in range(rng.randint(1, 6))),
        lambda: "".join(chr(rng.randint(0x0627, 0x064A)) for _ in range(rng.randint(1, 5))),
        lambda: rng.choice(["\t", "\n", "\r\n", "\x0b", "\x0c", "\x00", "\x1b", "\x7f", "  ", "\n\n\n"]),
        lambda: rng.choice(["\u00a0", "\u2028", "\u3000", "\u0085", "\u200b", "\u2009", "\ufeff"]),
        lambda: rng.choice(["<|endoftext|>", "<|im_start|>", "<tool_call>", "<|fim_pad|>"]),
        lambda: "".join(chr(rng.randint(0x0660, 0x0669)) for _ in range(3)),
        lambda: rng.choice([" ", "  ", ".", ",", "!?", "'s", "(", ")", "\"", "@-@"]),
    ]
    return ["".join(rng.choice(pools)() for _ in range(rng.randint(1, 25))) for _ in range(n)]


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=pathlib.Path, default=root / "../shared")
    ap.add_argument("--out", type=pathlib.Path, default=root / "tests/data/tokenizer_golden.json")
    a = ap.parse_args()
    shared = a.shared.resolve()
    tok = Tokenizer.from_file(str(shared / "tokenizer/qwen2.5/tokenizer.json"))
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids

    wt = shared / "data/wikitext-2-raw-v1"
    rows = [json.loads(line)["text"] for line in open(wt / "test.jsonl", encoding="utf-8")]
    joined = digest(enc("\n\n".join(rows)))
    test_pages = pages(open(wt / "wiki.test.raw", encoding="utf-8").read())
    page_digests = [dict(digest(enc(wikitext_detokenizer({"page": p}))), chars=len(p)) for p in test_pages]
    cases = []
    for s in random_strings(120, seed=7):
        ids = enc(s)
        cases.append({"text": s, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    out = {"meta": {"format": "ptq-golden", "version": 1, "tokenizer": "qwen2.5 tokenizer.json",
                    "regenerate": "python tools/golden/make_tokenizer_golden.py"},
           "wikitext_test_joined": joined, "wikitext_test_pages": page_digests, "unicode_cases": cases}
    a.out.write_text(json.dumps(out, ensure_ascii=True, indent=1) + "\n")
    print(f"{a.out}: joined {joined['count']} ids, {len(page_digests)} pages, {len(cases)} unicode cases")


if __name__ == "__main__":
    main()
