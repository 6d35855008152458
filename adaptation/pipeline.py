"""The adaptation stages on disk, each cached by a key of its inputs, and `adapt_model` for the demo chain.

Layout under `out_dir`:
  base/                     the base model converted to an HF dir, when `base_model` is a GGUF file
  tokenizer/russian/        the Russian BPE (tokenizer.json), trained on the base's pipeline
  tokenizer/pruned_base/    the base pruned on English + code; tokenizer/pruned_russian/ the Russian side
  tokenizer/merged/         HF tokenizer dir + vocab_map.json (merged id -> base id, -1 for new tokens)
  tokenizer/report/         report.md + report.json (token classes, chars/token per domain)
  model/init/ model/freeze/ model/unfreeze/   HF model dirs; runs/freeze, runs/unfreeze: Trainer checkpoints
A stage whose directory carries a stamp with the same key is skipped unless forced.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from adaptation.config import AdaptConfig, CorporaConfig
from specstack.cache import config_hash, is_built, read_stamp, write_stamp
from specstack.errors import SpecstackError
from specstack.io import atomic_directory, atomic_write_json

console = Console(stderr=True)
DOMAINS = ("ru", "en", "code")


class Layout:
    """Where each stage writes under `out_dir`."""

    def __init__(self, out_dir: str | Path) -> None:
        root = Path(out_dir)
        self.root = root
        self.base = root / "base"
        self.russian = root / "tokenizer" / "russian"
        self.pruned_base = root / "tokenizer" / "pruned_base"
        self.pruned_russian = root / "tokenizer" / "pruned_russian"
        self.merged = root / "tokenizer" / "merged"
        self.report = root / "tokenizer" / "report"
        self.init = root / "model" / "init"
        self.freeze = root / "model" / "freeze"
        self.unfreeze = root / "model" / "unfreeze"
        self.runs = root / "runs"
        self.summary = root / "summary.json"


def _identity(path: Path | None) -> object:
    """What a cache key needs to notice a changed input: a stage stamp, or file sizes and mtimes."""
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        return str(path)
    if path.is_dir():
        stamp = path / "specstack_build.json"
        if stamp.is_file():
            return {"dir": str(path), "stamp": json.loads(stamp.read_text()).get("key")}
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".safetensors"))
        return {"dir": str(path), "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]}
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def _files(paths: list[Path]) -> list[object]:
    return [_identity(p) for p in paths]


def hf_base_model(cfg: AdaptConfig) -> AdaptConfig:
    """`cfg` with a GGUF `base_model` replaced by its HF conversion under out_dir/base (converted once,
    cached by the file's size and mtime); an HF dir or no base is returned as it is."""
    from adaptation.gguf_model import convert_gguf, is_gguf

    if not is_gguf(cfg.base_model):
        return cfg
    out, key = Layout(cfg.out_dir).base, config_hash({"gguf": _identity(cfg.base_model)})
    if not is_built(out, key):
        t0 = time.time()
        with atomic_directory(out) as tmp:
            info = convert_gguf(cfg.base_model, tmp)
            write_stamp(tmp, key, seconds=round(time.time() - t0, 1), **info)
        console.print(f"[green]base model[/] {cfg.base_model} converted to {out} in {time.time() - t0:.0f}s")
    return cfg.model_copy(update={"base_model": out})


def base_tokenizer_path(cfg: AdaptConfig) -> Path:
    """The base tokenizer's path: base_tokenizer, else base_model; neither is a one-line error."""
    path = cfg.base_tokenizer or cfg.base_model
    if path is None:
        raise SpecstackError("adapt: set base_model (or base_tokenizer) in the config or with --base-model")
    return Path(path)


def load_base_tokenizer(cfg: AdaptConfig):
    from adaptation.tokenizer.bpe import load_tokenizer

    return load_tokenizer(base_tokenizer_path(cfg))


def heldout_corpora(corpora: CorporaConfig) -> dict[str, list[str]]:
    """The held-out documents of each domain that has files."""
    from adaptation.corpus import read_corpus

    files = {"ru": corpora.russian_heldout, "en": corpora.english_heldout, "code": corpora.code_heldout}
    return {d: read_corpus(paths, f"{d} held-out corpus") for d, paths in files.items() if paths}


# ---- keys -----------------------------------------------------------------------------------------------


def train_key(cfg: AdaptConfig) -> str:
    t = cfg.tokenizer
    return config_hash(
        {
            "base": _identity(base_tokenizer_path(cfg)),
            "ru": _files(cfg.corpora.russian_train),
            "vocab_size": t.vocab_size,
            "min_frequency": t.min_frequency,
        }
    )


def prune_key(cfg: AdaptConfig) -> str:
    t = cfg.tokenizer
    return config_hash(
        {
            "train": train_key(cfg),
            "en": _files(cfg.corpora.english_train),
            "code": _files(cfg.corpora.code_train),
            "coverage": t.coverage,
            "candidates": t.russian_candidates,
            "protected": t.protected_base_ids,
        }
    )


def merge_key(cfg: AdaptConfig) -> str:
    return config_hash(
        {
            "prune": prune_key(cfg),
            "chat": _identity(cfg.base_model),
            "template": _identity(cfg.chat_template),
            "added": cfg.tokenizer.added_tokens,
        }
    )


def report_key(cfg: AdaptConfig) -> str:
    c = cfg.corpora
    held = [_files(c.russian_heldout), _files(c.english_heldout), _files(c.code_heldout)]
    return config_hash({"merge": merge_key(cfg), "heldout": held})


def init_key(cfg: AdaptConfig) -> str:
    e, c = cfg.embeddings, cfg.corpora
    held = [_files(c.russian_heldout), _files(c.english_heldout), _files(c.code_heldout)]
    return config_hash(
        {
            "merge": merge_key(cfg),
            "model": _identity(cfg.base_model),
            "pad": e.pad_to_multiple_of,
            "eval": [e.eval_documents, e.seq_len, held],
        }
    )


def _data_settings(cfg: AdaptConfig) -> dict:
    e = cfg.embeddings
    c = cfg.corpora
    return {
        "files": [_files(c.russian_train), _files(c.english_train), _files(c.code_train)],
        "seq_len": e.seq_len,
        "english_share": e.english_share,
        "max_docs": e.max_train_documents,
        "bf16": e.bf16,
        "seed": cfg.seed,
    }


def freeze_key(cfg: AdaptConfig) -> str:
    return config_hash(
        {"init": init_key(cfg), "data": _data_settings(cfg), "stage": cfg.embeddings.freeze.model_dump()}
    )


def unfreeze_key(cfg: AdaptConfig) -> str:
    return config_hash({"freeze": freeze_key(cfg), "stage": cfg.embeddings.unfreeze.model_dump()})


def _cached(out: Path, key: str, force: bool, name: str) -> bool:
    if not force and is_built(out, key):
        console.print(f"[green]{name}[/] up to date at {out}")
        return True
    return False


# ---- tokenizer stages -----------------------------------------------------------------------------------


def tokenizer_train_stage(cfg: AdaptConfig, force: bool = False) -> Path:
    """Train the Russian tokenizer on the base tokenizer's pipeline."""
    from adaptation.corpus import read_corpus
    from adaptation.tokenizer.train import train_like

    out, key = Layout(cfg.out_dir).russian, train_key(cfg)
    if _cached(out, key, force, "tokenizer train"):
        return out
    t0 = time.time()
    base = load_base_tokenizer(cfg)
    texts = read_corpus(cfg.corpora.russian_train, "Russian training corpus")
    tokenizer = train_like(
        base,
        texts,
        cfg.tokenizer.vocab_size,
        min_frequency=cfg.tokenizer.min_frequency,
        source=str(base_tokenizer_path(cfg)),
    )
    with atomic_directory(out) as tmp:
        tokenizer.save(str(tmp / "tokenizer.json"))
        write_stamp(tmp, key, seconds=round(time.time() - t0, 1), vocab=tokenizer.get_vocab_size())
    console.print(f"[green]tokenizer train[/] {tokenizer.get_vocab_size():,} ids in {time.time() - t0:.1f}s")
    return out


def tokenizer_prune_stage(cfg: AdaptConfig, force: bool = False) -> tuple[Path, Path]:
    """Prune the base on English + code and the Russian tokenizer on Russian; both at cfg coverage."""
    from adaptation.corpus import read_corpus
    from adaptation.tokenizer.bpe import load_tokenizer
    from adaptation.tokenizer.prune import CANDIDATES, prune_tokenizer

    lay, key = Layout(cfg.out_dir), prune_key(cfg)
    if not force and is_built(lay.pruned_base, key) and is_built(lay.pruned_russian, key):
        console.print(f"[green]tokenizer prune[/] up to date at {lay.pruned_base.parent}")
        return lay.pruned_base, lay.pruned_russian
    if not (lay.russian / "tokenizer.json").is_file():
        raise SpecstackError(
            f"{lay.russian}: no Russian tokenizer (run `specstack adapt tokenizer train` first)"
        )
    t0 = time.time()
    c = cfg.corpora
    base_corpora = {}
    if c.english_train:
        base_corpora["en"] = read_corpus(c.english_train, "English training corpus")
    if c.code_train:
        base_corpora["code"] = read_corpus(c.code_train, "code training corpus")
    if not base_corpora:
        raise SpecstackError("adapt: corpora.english_train and corpora.code_train are both empty")
    russian = {"ru": read_corpus(c.russian_train, "Russian training corpus")}
    sides = [
        (lay.pruned_base, load_base_tokenizer(cfg), base_corpora, CANDIDATES["all"], "base"),
        (
            lay.pruned_russian,
            load_tokenizer(lay.russian),
            russian,
            CANDIDATES[cfg.tokenizer.russian_candidates],
            "Russian",
        ),
    ]
    for out, tokenizer, corpora, candidate, name in sides:
        result = prune_tokenizer(
            tokenizer,
            corpora,
            cfg.tokenizer.coverage,
            candidate,
            source=f"{name} tokenizer",
            protected_ids=cfg.tokenizer.protected_base_ids if name == "base" else 0,
        )
        with atomic_directory(out) as tmp:
            result.tokenizer.save(str(tmp / "tokenizer.json"))
            atomic_write_json(tmp / "original_ids.json", result.original_ids)
            write_stamp(tmp, key, stats=result.stats)
        console.print(
            f"[green]tokenizer prune[/] {name}: kept {result.stats['kept']:,} of {result.stats['vocab']:,} "
            f"({result.stats['kept_by_coverage']:,} by coverage)"
        )
    console.print(f"pruned both sides in {time.time() - t0:.1f}s")
    return lay.pruned_base, lay.pruned_russian


def tokenizer_merge_stage(cfg: AdaptConfig, force: bool = False) -> Path:
    """Merge the pruned sides into an HF tokenizer dir with the base's specials and chat template."""
    from adaptation.tokenizer.bpe import load_tokenizer
    from adaptation.tokenizer.merge import merge_tokenizers, read_chat_settings, save_merged_dir

    lay, key = Layout(cfg.out_dir), merge_key(cfg)
    if _cached(lay.merged, key, force, "tokenizer merge"):
        return lay.merged
    for side in (lay.pruned_base, lay.pruned_russian):
        if not (side / "tokenizer.json").is_file():
            raise SpecstackError(f"{side}: no pruned tokenizer (run `specstack adapt tokenizer prune` first)")
    result = merge_tokenizers(
        load_base_tokenizer(cfg),
        load_tokenizer(lay.pruned_base),
        load_tokenizer(lay.pruned_russian),
        cfg.tokenizer.added_tokens,
    )
    settings = read_chat_settings(cfg.base_model)
    if cfg.chat_template is not None:
        if not Path(cfg.chat_template).is_file():
            raise SpecstackError(f"{cfg.chat_template}: no such chat template file")
        settings["chat_template"] = Path(cfg.chat_template).read_text(encoding="utf-8")
    with atomic_directory(lay.merged) as tmp:
        save_merged_dir(result, tmp, settings)
        write_stamp(tmp, key, stats=result.stats)
    s = result.stats
    console.print(
        f"[green]tokenizer merge[/] {s['total']:,} ids: {s['base_kept']:,} base + {s['russian_appended']:,} "
        f"Russian + {s['added_tokens']} added ({s['new_tokens']:,} new to the base)"
    )
    return lay.merged


def tokenizer_report_stage(cfg: AdaptConfig, force: bool = False) -> dict:
    """Token classes and held-out chars/token of base, Russian-only and merged tokenizers."""
    from adaptation.tokenizer.bpe import load_tokenizer
    from adaptation.tokenizer.report import density_report, render_markdown

    lay, key = Layout(cfg.out_dir), report_key(cfg)
    if not force and is_built(lay.report, key):
        return json.loads((lay.report / "report.json").read_text())
    for path in (lay.russian, lay.merged):
        if not (path / "tokenizer.json").is_file():
            raise SpecstackError(
                f"{path}: missing (run `specstack adapt tokenizer train`, `prune` and `merge`)"
            )
    domains = heldout_corpora(cfg.corpora)
    if not domains:
        raise SpecstackError(
            "adapt: no held-out corpora (corpora.russian_heldout, english_heldout, code_heldout)"
        )
    tokenizers = {
        "base": load_base_tokenizer(cfg),
        "russian": load_tokenizer(lay.russian),
        "merged": load_tokenizer(lay.merged),
    }
    report = density_report(tokenizers, domains)
    report["merge"] = read_stamp(lay.merged).get("stats", {})
    with atomic_directory(lay.report) as tmp:
        atomic_write_json(tmp / "report.json", report)
        (tmp / "report.md").write_text(render_markdown(report), encoding="utf-8")
        write_stamp(tmp, key)
    return report


# ---- embedding stages -----------------------------------------------------------------------------------


def _require_base_model(cfg: AdaptConfig) -> Path:
    if cfg.base_model is None:
        raise SpecstackError("adapt: the embedding stages need base_model (an HF model dir)")
    if not (Path(cfg.base_model) / "config.json").is_file():
        raise SpecstackError(f"{cfg.base_model}: not a model directory (no config.json)")
    return Path(cfg.base_model)


def embeddings_init_stage(cfg: AdaptConfig, force: bool = False) -> Path:
    """Resize the base model to the merged vocabulary; new rows = mean of the base pieces' rows."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adaptation.embeddings.init import init_embeddings
    from adaptation.tokenizer.bpe import load_tokenizer
    from adaptation.tokenizer.merge import VOCAB_MAP_NAME, read_vocab_map

    lay, key = Layout(cfg.out_dir), init_key(cfg)
    if _cached(lay.init, key, force, "embeddings init"):
        return lay.init
    base_dir = _require_base_model(cfg)
    merged_to_base = read_vocab_map(lay.merged)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    base_tokenizer = load_base_tokenizer(cfg)  # the one vocab_map's base ids refer to
    rows = model.get_input_embeddings().weight.shape[0]
    if base_tokenizer.get_vocab_size(with_added_tokens=True) > rows:
        raise SpecstackError(
            f"{base_tokenizer_path(cfg)}: {base_tokenizer.get_vocab_size(with_added_tokens=True):,} ids, "
            f"more than the {rows:,} embedding rows of {base_dir}: not this model's tokenizer"
        )
    stats = init_embeddings(
        model,
        base_tokenizer,
        load_tokenizer(lay.merged),
        merged_to_base,
        cfg.embeddings.pad_to_multiple_of,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(lay.merged))
    with atomic_directory(lay.init) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / VOCAB_MAP_NAME).write_bytes((lay.merged / VOCAB_MAP_NAME).read_bytes())
    # Held-out loss of the base itself: the "before" of the adaptation.
    write_stamp(
        lay.init,
        key,
        stats=stats,
        params=sum(p.numel() for p in model.parameters()),
        heldout_base=evaluate_model(base_dir, cfg),
    )
    console.print(
        f"[green]embeddings init[/] {stats['rows']:,} rows: {stats['copied']:,} copied, "
        f"{stats['initialised_from_pieces']:,} from base pieces"
    )
    return lay.init


def training_documents(cfg: AdaptConfig) -> list[str]:
    """Russian training text with English/code mixed in at embeddings.english_share, capped in count."""
    from adaptation.corpus import mix_documents, read_corpus

    c = cfg.corpora
    russian = read_corpus(c.russian_train, "Russian training corpus")
    other = [d for paths in (c.english_train, c.code_train) if paths for d in read_corpus(paths)]
    docs = mix_documents(russian, other, cfg.embeddings.english_share, cfg.seed)
    return docs[: cfg.embeddings.max_train_documents]


def evaluate_model(model_dir: Path, cfg: AdaptConfig, only: tuple[str, ...] | None = None) -> dict:
    """Held-out loss per character (and per token) of a model dir on each domain with held-out files
    (or only those in `only`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adaptation.eval.perplexity import text_perplexity

    n = cfg.embeddings.eval_documents
    if n == 0:
        return {}
    domains = {d: docs for d, docs in heldout_corpora(cfg.corpora).items() if only is None or d in only}
    if not domains:
        return {}
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    torch.manual_seed(0)
    with torch.no_grad():
        return {
            d: text_perplexity(model, tokenizer, docs[:n], max_length=cfg.embeddings.seq_len)
            for d, docs in domains.items()
        }


def embeddings_stage(cfg: AdaptConfig, mode: str, force: bool = False) -> Path:
    """Run the freeze or unfreeze stage (resumable) and record held-out loss per character after it."""
    from adaptation.embeddings.freeze import train_embeddings as run_training

    lay = Layout(cfg.out_dir)
    if mode == "freeze":
        source, out, key, stage = lay.init, lay.freeze, freeze_key(cfg), cfg.embeddings.freeze
    else:
        source, out, key, stage = lay.freeze, lay.unfreeze, unfreeze_key(cfg), cfg.embeddings.unfreeze
    if _cached(out, key, force, f"embeddings {mode}"):
        return out
    if not (source / "config.json").is_file():
        previous = "init" if mode == "freeze" else "freeze"
        raise SpecstackError(f"{source}: no model (run `specstack adapt embeddings {previous}` first)")
    t0 = time.time()
    summary = run_training(
        source,
        out,
        lay.runs / mode,
        training_documents(cfg),
        stage,
        mode,  # type: ignore[arg-type]
        seq_len=cfg.embeddings.seq_len,
        bf16=cfg.embeddings.bf16,
        seed=cfg.seed,
        key=key,
        restart=force,
    )
    summary["seconds"] = round(time.time() - t0, 1)
    heldout = evaluate_model(out, cfg, ("ru",) if mode == "freeze" else None)
    write_stamp(out, key, train=summary, heldout=heldout)
    ru = heldout.get("ru", {}).get("loss_per_char")
    console.print(
        f"[green]embeddings {mode}[/] {summary['steps']} steps in {summary['seconds']:.0f}s, "
        f"mean loss {summary['train_loss']:.3f}"
        + (f", held-out Russian loss/char {ru:.4f}" if ru is not None else "")
    )
    return out


# ---- the whole chain ------------------------------------------------------------------------------------


def adapt_all(cfg: AdaptConfig, force: bool = False) -> Path:
    """train -> prune -> merge -> report -> init -> freeze -> unfreeze (cached); writes summary.json and
    returns the adapted model dir (model/unfreeze)."""
    t0 = time.time()
    cfg = hf_base_model(cfg)
    tokenizer_train_stage(cfg, force)
    tokenizer_prune_stage(cfg, force)
    tokenizer_merge_stage(cfg, force)
    report = tokenizer_report_stage(cfg, force)
    embeddings_init_stage(cfg, force)
    embeddings_stage(cfg, "freeze", force)
    final = embeddings_stage(cfg, "unfreeze", force)
    lay = Layout(cfg.out_dir)
    atomic_write_json(
        lay.summary,
        {
            "key": unfreeze_key(cfg),
            "model": str(final),
            "density": {
                r["name"]: {
                    "ids": r["ids"],
                    "chars_per_token": r["chars_per_token"],
                    "vs_base": r["vs_baseline"],
                }
                for r in report["rows"]
            },
            "heldout_before": read_stamp(lay.init).get("heldout_base"),
            "heldout_after_freeze": read_stamp(lay.freeze).get("heldout"),
            "heldout_after": read_stamp(final).get("heldout"),
            "seconds_this_call": round(time.time() - t0, 1),
        },
    )
    summary = json.loads(lay.summary.read_text())
    before, after = summary["heldout_before"] or {}, summary["heldout_after"] or {}
    ru = summary["density"]["merged"]["vs_base"].get("ru")
    line = f"[green]adapted[/] {final} in {time.time() - t0:.0f}s"
    if ru:
        line += f"; Russian {ru:.2f}x denser"
    if "ru" in before and "ru" in after:
        line += f"; held-out Russian loss/char {before['ru']['loss_per_char']:.4f} -> {after['ru']['loss_per_char']:.4f}"
    console.print(line)
    return final


def demo_corpora(corpus_dir: str | Path) -> CorporaConfig:
    """The corpora of a demo corpus dir (text/{ru,en,code}_{train,heldout}.txt)."""
    text = Path(corpus_dir) / "text"
    return CorporaConfig(
        russian_train=[text / "ru_train.txt"],
        english_train=[text / "en_train.txt"],
        code_train=[text / "code_train.txt"],
        russian_heldout=[text / "ru_heldout.txt"],
        english_heldout=[text / "en_heldout.txt"],
        code_heldout=[text / "code_heldout.txt"],
    )


def adapt_model(
    base_dir: str | Path, corpus_dir: str | Path, out_dir: str | Path, cfg: AdaptConfig | None = None
) -> Path:
    """Adapt the demo base model to Russian and return the adapted model dir (HF, merged tokenizer).

    Reads `cfg.tokenizer`, `cfg.embeddings` and `cfg.seed` (defaults: `AdaptConfig()`, sized for the demo);
    base_model, out_dir and corpora come from the arguments (the demo corpus layout under corpus_dir).
    Stages are cached under out_dir; a killed run resumes. out_dir/summary.json holds the density table
    and held-out loss per character before and after.
    """
    cfg = (cfg or AdaptConfig()).model_copy(
        update={
            "base_model": Path(base_dir),
            "base_tokenizer": None,
            "out_dir": Path(out_dir),
            "corpora": demo_corpora(corpus_dir),
        }
    )
    return adapt_all(cfg)
