"""Generate the whole corpus: SFT conversations, GRPO prompts and raw text, split and written to disk.

Every item draws from its own random stream (seed, stream name, index), items are de-duplicated by a
normalised content hash of their prompt, and the held-out part is the items with the smallest hashes:
same config, same bytes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from specstack.demo.corpus import ads, chats, code_text, english, reviews, support
from specstack.demo.corpus.code_tasks import make_code_task
from specstack.demo.corpus.common import Sample, apportion, item_rng, pick_by_weight
from specstack.demo.corpus.config import CorpusConfig
from specstack.demo.corpus.function_calling import make_fc_example
from specstack.demo.corpus.math_problems import make_math_problem
from specstack.demo.corpus.splits import (
    DOC_SEPARATOR,
    clean_document,
    content_key,
    hash_fraction,
    join_documents,
    split_by_hash,
    take_unique,
)
from specstack.io import atomic_write_json, atomic_write_text, write_jsonl

GENERATOR_VERSION = 2  # 2: at most three tool schemas per function-calling conversation

SFT_MAKERS: dict[str, Callable[[random.Random], Sample]] = {
    "ad": ads.make_ad,
    "chat": chats.make_chat,
    "support": support.make_support,
    "review": reviews.make_review,
    "math": lambda rng: make_math_problem(rng).sample(),
    "code": lambda rng: make_code_task(rng).sample(),
}

RL_MAKERS: dict[str, Callable[[random.Random], dict]] = {
    "math": lambda rng: make_math_problem(rng).rl_row(),
    "code": lambda rng: make_code_task(rng).rl_row(),
}

RU_DOCS: dict[str, tuple[float, Callable[[random.Random], str]]] = {
    "ad": (0.3, lambda rng: ads.make_ad(rng).document),
    "chat": (0.2, lambda rng: chats.make_chat(rng).document),
    "support": (0.2, lambda rng: support.make_support(rng).document),
    "review": (0.2, lambda rng: reviews.make_review(rng).document),
    "math": (0.1, lambda rng: make_math_problem(rng).sample().document),
}


def _ru_document(rng: random.Random) -> str:
    kind = pick_by_weight(rng, {k: w for k, (w, _) in RU_DOCS.items()})
    return RU_DOCS[kind][1](rng)


TEXT_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "ru": _ru_document,
    "en": english.make_english_document,
    "code": code_text.make_code_document,
}


def _prompt_key(messages: list[dict]) -> str:
    """Content key of the system/user messages before the first assistant turn."""
    texts = []
    for m in messages:
        if m["role"] == "assistant":
            break
        texts.append(m["content"])
    return content_key(texts)


def _fc_units(kind: str, n_train: int, n_held: int, cfg: CorpusConfig) -> list[tuple[str, str, int, int]]:
    """(stream, situation, train, held) for the function-calling share, split by the fc mixture."""
    mix = cfg.fc_mix.model_dump()
    train, held = apportion(n_train, mix), apportion(n_held, mix)
    return [(f"{kind}/fc/{s}", s, train[s], held[s]) for s in mix]


def _generate(
    cfg: CorpusConfig,
    units: list[tuple[str, Callable[[random.Random], Any], int, int]],
    key: Callable[[Any], str],
    seen: set[str],
) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """Generate every unit's distinct items and split each unit by hash; both parts in key order."""
    train: list[tuple[str, Any]] = []
    held: list[tuple[str, Any]] = []
    for stream, make, n_train, n_held in units:
        keyed = take_unique(
            lambda i, stream=stream, make=make: make(item_rng(cfg.seed, stream, i)),
            key,
            n_train + n_held,
            seen,
            stream,
        )
        t, h = split_by_hash(keyed, n_held)
        train += t
        held += h
    return sorted(train, key=lambda kv: kv[0]), sorted(held, key=lambda kv: kv[0])


def build_sft(cfg: CorpusConfig, seen: set[str]) -> tuple[list[dict], list[dict]]:
    """SFT rows (train, held-out)."""
    n_train, n_held = cfg.sft_train, round(cfg.sft_train * cfg.heldout_fraction)
    mix = cfg.sft_mix.model_dump()
    train, held = apportion(n_train, mix), apportion(n_held, mix)
    units: list[tuple[str, Callable[[random.Random], Any], int, int]] = [
        (f"sft/{c}", SFT_MAKERS[c], train[c], held[c]) for c in mix if c != "fc"
    ]
    units += [
        (stream, lambda rng, s=s: make_fc_example(rng, s).sample(), t, h)
        for stream, s, t, h in _fc_units("sft", train["fc"], held["fc"], cfg)
    ]
    tr, he = _generate(cfg, units, lambda s: _prompt_key(s.messages), seen)
    return [s.sft_row() for _, s in tr], [s.sft_row() for _, s in he]


def build_rl(cfg: CorpusConfig, seen: set[str]) -> tuple[list[dict], list[dict]]:
    """GRPO prompt rows (train, held-out); prompts already used for SFT are skipped."""
    n_train, n_held = cfg.rl_train, round(cfg.rl_train * cfg.heldout_fraction)
    mix = cfg.rl_mix.model_dump()
    train, held = apportion(n_train, mix), apportion(n_held, mix)
    units: list[tuple[str, Callable[[random.Random], Any], int, int]] = [
        (f"rl/{d}", RL_MAKERS[d], train[d], held[d]) for d in mix if d != "fc"
    ]
    units += [
        (stream, lambda rng, s=s: make_fc_example(rng, s).rl_row(), t, h)
        for stream, s, t, h in _fc_units("rl", train["fc"], held["fc"], cfg)
    ]
    tr, he = _generate(cfg, units, lambda row: _prompt_key(row["prompt"]), seen)
    return [r for _, r in tr], [r for _, r in he]


def build_text(cfg: CorpusConfig, lang: str, target_bytes: int) -> tuple[list[str], list[str]]:
    """Raw-text documents (train, held-out) until the train part reaches `target_bytes`."""
    make = TEXT_MAKERS[lang]
    held_share = cfg.heldout_fraction / (1 + cfg.heldout_fraction)
    train: list[str] = []
    held: list[str] = []
    seen: set[str] = set()
    size, index = 0, 0
    while size < target_bytes:
        if index > 1000 and len(seen) < index // 4:
            raise RuntimeError(f"text/{lang}: too many duplicate documents ({len(seen)} distinct of {index})")
        doc = clean_document(make(item_rng(cfg.seed, f"text/{lang}", index)))
        index += 1
        key = content_key([doc])
        if not doc or key in seen:
            continue
        seen.add(key)
        if hash_fraction(key) < held_share:
            held.append(doc)
        else:
            train.append(doc)
            size += len(doc.encode("utf-8")) + len(DOC_SEPARATOR)
    return train, held


def _counts(rows: list[dict], field: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[field]] = out.get(r[field], 0) + 1
    return dict(sorted(out.items()))


def build_corpus(cfg: CorpusConfig, out_dir: Path) -> dict:
    """Write the corpus into `out_dir` and return its summary (the manifest plus the elapsed seconds).

    Files: sft_train.jsonl, sft_heldout.jsonl, rl_train.jsonl, rl_heldout.jsonl,
    text/{ru,en,code}_{train,heldout}.txt (documents joined by DOC_SEPARATOR) and manifest.json.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    seen: set[str] = set()
    sft_train, sft_held = build_sft(cfg, seen)
    rl_train, rl_held = build_rl(cfg, seen)
    files: dict[str, dict[str, int]] = {}
    for name, rows in (
        ("sft_train.jsonl", sft_train),
        ("sft_heldout.jsonl", sft_held),
        ("rl_train.jsonl", rl_train),
        ("rl_heldout.jsonl", rl_held),
    ):
        write_jsonl(out_dir / name, rows)
        files[name] = {"rows": len(rows), "bytes": (out_dir / name).stat().st_size}
    targets = {"ru": cfg.ru_text_bytes, "en": cfg.en_text_bytes, "code": cfg.code_text_bytes}
    for lang, target in targets.items():
        train, held = build_text(cfg, lang, target)
        for part, docs in (("train", train), ("heldout", held)):
            name = f"text/{lang}_{part}.txt"
            atomic_write_text(out_dir / name, join_documents(docs))
            files[name] = {"documents": len(docs), "bytes": (out_dir / name).stat().st_size}
    manifest = {
        "generator": "specstack.demo.corpus",
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "doc_separator": DOC_SEPARATOR,
        "files": files,
        "sft_categories": {"train": _counts(sft_train, "category"), "heldout": _counts(sft_held, "category")},
        "rl_domains": {"train": _counts(rl_train, "domain"), "heldout": _counts(rl_held, "domain")},
        "config": cfg.model_dump(),
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return {**manifest, "seconds": round(time.perf_counter() - start, 2)}
