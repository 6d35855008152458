"""The demo build chain: corpus -> base (tokenizer + pretraining) -> adapted (Russian tokenizer merged,
embeddings trained; adaptation/) -> target (SFT). Each stage is cached.

A stage's directory is reused when its build stamp carries the same key, a hash of the stage's config
and of the stamps of the stages it reads; otherwise it is rebuilt whole (written to a temporary
directory and swapped in), so a killed build never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from specstack.cache import config_hash, is_built, read_stamp, write_stamp
from specstack.demo.config import DemoConfig
from specstack.io import atomic_directory, read_jsonl

console = Console(stderr=True)


def read_documents(path: Path) -> list[str]:
    """The documents of one of the corpus' raw-text files."""
    from specstack.demo.corpus import split_documents

    return split_documents(path.read_text(encoding="utf-8"))


def corpus_dir(cfg: DemoConfig) -> Path:
    return cfg.out_dir / "corpus"


def base_dir(cfg: DemoConfig) -> Path:
    return cfg.out_dir / "base"


def adapted_dir(cfg: DemoConfig) -> Path:
    return cfg.out_dir / "adapted"


def target_dir(cfg: DemoConfig) -> Path:
    return cfg.out_dir / "target"


def stage_run_dir(cfg: DemoConfig, stage: str, key: str) -> Path:
    """Where a stage's resumable training run lives. Keyed like the stage, so a run interrupted under one
    config is resumed only by that config, never by a changed one."""
    return cfg.out_dir / "runs" / f"{stage}-{key}"


def cached_stage(name: str, out: Path, key: str, work: Path, build: Callable[[Path, Path], dict]) -> Path:
    """Reuse `out` when stamped with `key`; else `build(work, tmp) -> stamp info` writes the stage into a
    temporary directory that replaces `out` whole, and the resumable `work` directory is removed after."""
    if is_built(out, key):
        console.print(f"[green]{name}[/] cached at {out}")
        return out
    t0 = time.time()
    work.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out) as tmp:
        info = build(work, tmp)
        write_stamp(tmp, key, seconds=round(time.time() - t0, 1), **info)
    shutil.rmtree(work, ignore_errors=True)  # checkpoints and intermediate model copies
    console.print(f"[green]{name}[/] built at {out} in {time.time() - t0:.0f}s")
    return out


def corpus_key(cfg: DemoConfig) -> str:
    return config_hash({"corpus": cfg.corpus.model_dump(mode="json")})


# Stage keys hash configs, not code: bump this when a change to the model-building code must rebuild the
# cached models (every later stage's key contains the base's). 2: the pad (<|endoftext|>) embedding trains.
MODEL_BUILD_REVISION = 2


def base_key(cfg: DemoConfig, seed: int) -> str:
    parts = {"corpus": corpus_key(cfg), "tokenizer": cfg.tokenizer, "base": cfg.base, "seed": seed,
             "revision": MODEL_BUILD_REVISION}  # fmt: skip
    return config_hash(
        {k: v if isinstance(v, str | int) else v.model_dump(mode="json") for k, v in parts.items()}
    )


def adapted_key(cfg: DemoConfig, seed: int) -> str:
    return config_hash({"base": base_key(cfg, seed), "adapt": cfg.adapt.model_dump(mode="json")})


def sft_source(cfg: DemoConfig, seed: int) -> tuple[Path, str]:
    """The model the target is fine-tuned from (the adapted base, or the base when adaptation is off)
    and its stage key."""
    if cfg.adapt.enabled:
        return adapted_dir(cfg), adapted_key(cfg, seed)
    return base_dir(cfg), base_key(cfg, seed)


def target_key(cfg: DemoConfig, seed: int) -> str:
    _, source_key = sft_source(cfg, seed)
    return config_hash({"source": source_key, "target": cfg.target.model_dump(mode="json")})


def build_corpus_stage(cfg: DemoConfig) -> Path:
    """Generate the corpus unless an identical one is already there."""
    from specstack.demo.corpus.build import build_corpus

    out, key = corpus_dir(cfg), corpus_key(cfg)
    if is_built(out, key):
        console.print(f"[green]corpus[/] cached at {out}")
        return out
    t0 = time.time()
    with atomic_directory(out) as tmp:
        summary = build_corpus(cfg.corpus, tmp)
        write_stamp(tmp, key, seconds=round(time.time() - t0, 1), summary=summary)
    console.print(f"[green]corpus[/] built at {out} in {time.time() - t0:.1f}s")
    return out


def _tokenizer_texts(corpus: Path, russian_share: float, seed: int) -> list[str]:
    """English and code documents, plus Russian documents up to `russian_share` of all characters."""
    english = read_documents(corpus / "text" / "en_train.txt") + read_documents(
        corpus / "text" / "code_train.txt"
    )
    russian = read_documents(corpus / "text" / "ru_train.txt")
    random.Random(seed).shuffle(russian)
    budget = russian_share / max(1e-9, 1 - russian_share) * sum(map(len, english))
    picked, size = [], 0
    for doc in russian:
        if size >= budget:
            break
        picked.append(doc)
        size += len(doc)
    return english + picked


def build_base_stage(cfg: DemoConfig, seed: int) -> Path:
    """Train the base tokenizer (mostly English/code) and pretrain the base model on all raw text."""
    from adaptation.tokenizer.hf_dir import DEMO_CHAT_TEMPLATE, to_hf_tokenizer
    from adaptation.tokenizer.qwen_style import ENDOFTEXT, train_qwen_style_bpe
    from specstack.demo.model_dir import new_model, save_model_dir
    from specstack.demo.pretrain import pack_documents, pretrain

    corpus, out, key = corpus_dir(cfg), base_dir(cfg), base_key(cfg, seed)
    if is_built(out, key):
        console.print(f"[green]base[/] cached at {out}")
        return out
    t0 = time.time()
    texts = _tokenizer_texts(corpus, cfg.tokenizer.russian_share, seed)
    tokenizer = to_hf_tokenizer(
        train_qwen_style_bpe(texts, cfg.tokenizer.vocab_size), DEMO_CHAT_TEMPLATE.read_text()
    )
    console.print(f"base tokenizer: {len(tokenizer)} tokens in {time.time() - t0:.1f}s")
    docs = [d for name in ("ru", "en", "code") for d in read_documents(corpus / "text" / f"{name}_train.txt")]
    tokens = pack_documents(tokenizer, docs, tokenizer.convert_tokens_to_ids(ENDOFTEXT))
    console.print(f"pretraining corpus: {len(tokens):,} tokens from {len(docs):,} documents")
    model = new_model(cfg.base.shape, tokenizer, seed)
    work = stage_run_dir(cfg, "base", key)
    summary = pretrain(model, tokens, cfg.base.pretrain, work, seed)
    ppl = _text_perplexities(model, tokenizer, corpus)
    save_model_dir(model, tokenizer, out)
    write_stamp(
        out,
        key,
        seconds=round(time.time() - t0, 1),
        train=summary,
        heldout=ppl,
        params=sum(p.numel() for p in model.parameters()),
    )
    shutil.rmtree(work, ignore_errors=True)
    console.print(f"[green]base[/] built at {out} in {time.time() - t0:.0f}s")
    return out


def _text_perplexities(model, tokenizer, corpus: Path, docs_per_domain: int = 100) -> dict:
    from adaptation.eval.perplexity import text_perplexity

    return {
        name: text_perplexity(
            model, tokenizer, read_documents(corpus / "text" / f"{name}_heldout.txt")[:docs_per_domain]
        )
        for name in ("ru", "en", "code")
    }


def build_adapted_stage(cfg: DemoConfig, seed: int) -> Path:
    """Adapt the base to Russian with adaptation/'s chain (tokenizer train, prune, merge; embeddings
    init, freeze, unfreeze) and keep the adapted model with the density table and held-out losses."""
    from adaptation.config import AdaptConfig
    from adaptation.pipeline import Layout, adapt_model

    key = adapted_key(cfg, seed)

    def build(work: Path, out: Path) -> dict:
        adapt_cfg = AdaptConfig(tokenizer=cfg.adapt.tokenizer, embeddings=cfg.adapt.embeddings, seed=seed)
        model = adapt_model(base_dir(cfg), corpus_dir(cfg), work, adapt_cfg)
        summary = json.loads(Layout(work).summary.read_text(encoding="utf-8"))
        shutil.copytree(model, out, dirs_exist_ok=True)
        shutil.copy(Layout(work).report / "report.md", out / "adaptation_report.md")
        summary.pop("model", None)
        return {"adaptation": summary}

    return cached_stage("adapted", adapted_dir(cfg), key, stage_run_dir(cfg, "adapt", key), build)


def build_target_stage(cfg: DemoConfig, seed: int) -> Path:
    """SFT the adapted base (or the base) on the demo chat data (TRL) and report held-out perplexity on
    assistant tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adaptation.eval.perplexity import chat_perplexity
    from adaptation.sft import run_sft

    key = target_key(cfg, seed)

    def build(work: Path, out: Path) -> dict:
        sft = cfg.target.sft.model_copy(update={"seed": seed})
        source, _ = sft_source(cfg, seed)
        model_path = run_sft(source, corpus_dir(cfg) / "sft_train.jsonl", work, sft)
        model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        rows = list(read_jsonl(corpus_dir(cfg) / "sft_heldout.jsonl"))[: cfg.target.eval_conversations]
        ppl = chat_perplexity(model, tokenizer, rows)
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        console.print(f"target held-out perplexity {ppl['perplexity']:.2f}")
        return {"heldout_chat": ppl}

    return cached_stage("target", target_dir(cfg), key, stage_run_dir(cfg, "target", key), build)


def build_models(cfg: DemoConfig, seed: int) -> dict[str, Path]:
    """Every stage up to the target, in order (cached ones are reused): {"corpus": dir, "base": dir,
    ["adapted": dir,] "target": dir}."""
    stages = {"corpus": build_corpus_stage(cfg), "base": build_base_stage(cfg, seed)}
    if cfg.adapt.enabled:
        stages["adapted"] = build_adapted_stage(cfg, seed)
    stages["target"] = build_target_stage(cfg, seed)
    return stages


def describe(out: Path) -> dict:
    """The stamp of a built stage (what it was built from and what was measured)."""
    return read_stamp(out)
