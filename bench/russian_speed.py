"""Is the adapted model faster for Russian users? Base (SmolLM2 with its own tokenizer) vs the demo target.

Both models answer the same held-out Russian chat prompts in vLLM (CPU, offline engine, batch 1, one request
at a time, greedy, each model with its own chat template). Reported per model: decode ms/token, characters
of generated text per second, and the Cyrillic share of that text (the base often answers in English or
broken Russian, so its characters are not all Russian); and each tokenizer's characters per token on the
held-out Russian reference answers, so `chars/token x tokens/s` gives the Russian characters per second
each model would produce for the same text.

    python bench/russian_speed.py [--config configs/demo.yaml] [--prompts 8] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "russian_speed.json"
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LETTER = re.compile(r"[^\W\d_]")


def russian_chats(path: Path, n: int) -> list[dict]:
    """The first `n` held-out conversations without tools whose reference answer is mostly Cyrillic."""
    from specstack.io import read_jsonl

    picked = []
    for row in read_jsonl(path):
        answer = next((m["content"] for m in row["messages"] if m["role"] == "assistant"), "")
        letters = LETTER.findall(answer)
        if not row.get("tools") and letters and len(CYRILLIC.findall(answer)) > 0.8 * len(letters):
            picked.append(row)
        if len(picked) == n:
            break
    return picked


def measure(model_dir: Path, chats: list[dict], max_tokens: int, dtype: str) -> dict:
    from transformers import AutoTokenizer

    from draft_training.vllm_run import run_vllm

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    prompts = []
    for row in chats:
        first = next(i for i, m in enumerate(row["messages"]) if m["role"] == "assistant")
        out = tok.apply_chat_template(row["messages"][:first], add_generation_prompt=True, return_dict=True)
        prompts.append(list(out["input_ids"]))
    run = run_vllm(model_dir, prompts, max_tokens, one_at_a_time=True, dtype=dtype)
    texts = [tok.decode(ids, skip_special_tokens=True) for ids in run["outputs"]]
    chars = sum(len(t) for t in texts)
    letters = sum(len(LETTER.findall(t)) for t in texts)
    references = [next(m["content"] for m in r["messages"] if m["role"] == "assistant") for r in chats]
    ref_chars = sum(map(len, references))
    ref_tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for t in references)
    tokens_per_s = 1000 / run["ms_per_token"]
    return {
        "model": str(model_dir),
        "ms_per_token": run["ms_per_token"],
        "generated_tokens": sum(map(len, run["outputs"])),
        "generated_chars_per_s": chars / run["seconds"],
        "cyrillic_share": sum(len(CYRILLIC.findall(t)) for t in texts) / max(1, letters),
        "reference_chars_per_token": ref_chars / ref_tokens,
        "russian_chars_per_s_same_text": ref_chars / ref_tokens * tokens_per_s,
        "sample": texts[0][:160],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/demo.yaml", help="Run config with a demo: section.")
    ap.add_argument("--prompts", type=int, default=8, help="Held-out Russian chat prompts.")
    ap.add_argument("--max-tokens", type=int, default=96, help="Tokens generated per prompt at most.")
    ap.add_argument("--dtype", default="bfloat16", help="vLLM dtype (the serving default: bfloat16).")
    ap.add_argument("--out", type=Path, default=RESULTS, help="Where the JSON goes.")
    args = ap.parse_args()

    from specstack.config import load_run_config, require_section
    from specstack.demo.build import base_dir, corpus_dir, target_dir

    cfg = require_section(load_run_config(ROOT / args.config), "demo", args.config)
    chats = russian_chats(corpus_dir(cfg) / "sft_heldout.jsonl", args.prompts)
    rows = {name: measure(path, chats, args.max_tokens, args.dtype)
            for name, path in (("base", base_dir(cfg)), ("target", target_dir(cfg)))}  # fmt: skip
    print(
        f"{len(chats)} held-out Russian prompts, <= {args.max_tokens} tokens each, vLLM {args.dtype}, batch 1\n"
    )
    print(
        "| model | ms/token | generated chars/s | Cyrillic share | chars/token (reference) | Russian chars/s, same text |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['ms_per_token']:.1f} | {r['generated_chars_per_s']:.0f} | {r['cyrillic_share']:.0%} | "
              f"{r['reference_chars_per_token']:.2f} | {r['russian_chars_per_s_same_text']:.0f} |")  # fmt: skip
    ratio = rows["target"]["russian_chars_per_s_same_text"] / rows["base"]["russian_chars_per_s_same_text"]
    print(f"\nthe target produces the same Russian text {ratio:.2f}x faster")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "prompts": len(chats),
        "max_tokens": args.max_tokens,
        "dtype": args.dtype,
        "machine": platform.processor(),
    }
    args.out.write_text(
        json.dumps({**meta, "rows": rows, "speedup_same_text": ratio}, indent=2, ensure_ascii=False)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
