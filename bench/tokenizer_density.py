"""Tokenizer density of the adaptation: merged vs base on Russian, English and code (held-out text).

Two parts, the same code path as `specstack adapt tokenizer ...` (train -> prune -> merge -> report):

1. demo: the demo base tokenizer (mostly English/code, 4,096 ids) adapted on the demo corpus
   (artifacts/demo/corpus; generated with `specstack demo corpus` when missing).
2. real: Qwen's published byte-level BPE ranks (qwen.tiktoken from the dashscope wheel, the vocabulary
   Qwen2/2.5/3 share) rebuilt as an HF tokenizer with Qwen2's regex, checked id-for-id against tiktoken on
   every source's sample, then adapted on text no one here wrote: 7 Russian, 7 English and 3 Python
   sources of different genres (bench/tokenizer_inputs.py fetches and caches them under
   artifacts/tokenizer_bench/). The headline is leave-one-source-out: each source is measured by a merged
   tokenizer whose Russian BPE and both prunings never saw it. Secondary: the pipeline on every source's
   training files, measured on their held-out files. Also: the floor of protected Qwen ids against
   English/code density on left-out sources, and the demo's adapted tokenizer on these sources.

Goals: on held-out sources (pooled per domain) merged >= 1.25x Qwen's chars/token on Russian, >= 0.98x on
English and code, with no more ids than Qwen; on the demo corpus (#10) >= 1.2x / 0.98x / 0.98x.
Prints the tables, writes bench/results/tokenizer_density.json, exits 1 when a goal is missed.

    python bench/tokenizer_density.py [--skip-demo] [--skip-real] [--russian-vocab 60000]
        [--protected-base-ids 90000] [--protect-sweep 0,50000,90000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adaptation.config import AdaptConfig, CorporaConfig, TokenizerAdaptConfig  # noqa: E402
from adaptation.tokenizer.report import DOMAIN_TITLES, render_markdown  # noqa: E402

RESULTS = REPO / "bench" / "results" / "tokenizer_density.json"
WORK = REPO / "artifacts" / "tokenizer_bench"
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
GOALS = {"ru": 1.25, "en": 0.98, "code": 0.98}
DEMO_GOALS = {"ru": 1.2, "en": 0.98, "code": 0.98}
RUSSIAN_VOCAB = 60000
PROTECTED_BASE_IDS = 90000  # chosen from the sweep: the left-out English/code sources at >= 0.99x
PROTECT_SWEEP = (0, 50000, 90000)
REFERENCE = {
    "source": "reference article (Qwen-2.5 tokenizer, own Russian tokenizers, Russian corpus)",
    "chars_per_token_ru": {"Qwen-2.5": 3.24, "own 32k": 3.65, "own 60k": 3.95},
    "merged_kept": {"base (Qwen3) English/code": "~80k", "own 60k Russian": "~36k"},
    "vocab_classes_qwen25": {"cyrillic": 3996, "latin": 187769, "other": 111566},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_tokenizer_stages(cfg: AdaptConfig) -> dict:
    """train -> prune -> merge -> report through the pipeline (cached under cfg.out_dir)."""
    from adaptation.pipeline import (
        Layout,
        tokenizer_merge_stage,
        tokenizer_prune_stage,
        tokenizer_report_stage,
        tokenizer_train_stage,
    )
    from specstack.cache import read_stamp

    t0 = time.time()
    tokenizer_train_stage(cfg)
    tokenizer_prune_stage(cfg)
    tokenizer_merge_stage(cfg)
    report = tokenizer_report_stage(cfg)
    lay = Layout(cfg.out_dir)
    report["prune"] = {
        "base": read_stamp(lay.pruned_base)["stats"],
        "russian": read_stamp(lay.pruned_russian)["stats"],
    }
    report["seconds"] = round(time.time() - t0, 1)
    return report


def goals_met(report: dict, goals: dict[str, float]) -> dict:
    merged = next(r for r in report["rows"] if r["name"] == "merged")
    return {d: merged["vs_baseline"][d] >= goal for d, goal in goals.items() if d in merged["vs_baseline"]}


# ---- demo -------------------------------------------------------------------------------------------------


def demo_base_tokenizer(corpus: Path, out: Path) -> Path:
    """The demo base's tokenizer: the built base's if there is one, else trained by the demo's own recipe."""
    from specstack.config import load_run_config

    run = load_run_config(DEMO_CONFIG)
    built = run.demo.out_dir / "base" / "tokenizer.json"
    if (REPO / built).is_file():
        return REPO / built
    path = out / "demo_base_tokenizer.json"
    if not path.is_file():
        from adaptation.tokenizer.qwen_style import train_qwen_style_bpe
        from specstack.demo.build import _tokenizer_texts

        texts = _tokenizer_texts(corpus, run.demo.tokenizer.russian_share, run.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        train_qwen_style_bpe(texts, run.demo.tokenizer.vocab_size).save(str(path))
    return path


def demo_part() -> dict:
    from adaptation.pipeline import demo_corpora

    corpus = REPO / "artifacts" / "demo" / "corpus"
    if not (corpus / "text" / "ru_train.txt").is_file():
        log("demo corpus missing: specstack demo corpus --config configs/demo.yaml")
        subprocess.run(
            [sys.executable, "-m", "specstack.cli", "demo", "corpus", "--config", str(DEMO_CONFIG)],
            check=True,
        )
    out = WORK / "demo"
    cfg = AdaptConfig(
        base_tokenizer=demo_base_tokenizer(corpus, out),
        out_dir=out,
        corpora=demo_corpora(corpus),
    )
    report = run_tokenizer_stages(cfg)
    report["base_tokenizer"] = str(cfg.base_tokenizer.relative_to(REPO))
    report["tokenizer_config"] = cfg.tokenizer.model_dump()
    return report


# ---- real: Qwen's vocabulary on Debian text ---------------------------------------------------------------


def chunks(documents: list[str], size: int = 2000) -> list[str]:
    """Documents cut at paragraph boundaries into pieces of about `size` characters."""
    out = []
    for doc in documents:
        piece = ""
        for para in doc.split("\n\n"):
            piece = f"{piece}\n\n{para}" if piece else para
            if len(piece) >= size:
                out.append(piece)
                piece = ""
        if piece:
            out.append(piece)
    return out


def rebuilt_qwen(cache: Path, check_files: dict[str, Path]) -> tuple[Path, dict]:
    """Qwen's tokenizer rebuilt from qwen.tiktoken (once), and its id-for-id check against tiktoken."""
    from adaptation.corpus import read_corpus
    from adaptation.tokenizer.tiktoken_rebuild import compare_with_tiktoken, from_tiktoken, tiktoken_encoding

    qwen_dir = WORK / "qwen"
    proof_path = qwen_dir / "tiktoken_check.json"
    if not proof_path.is_file():
        log("rebuilding Qwen's tokenizer from qwen.tiktoken and checking it against tiktoken ...")
        ranks = cache / "qwen.tiktoken"
        tokenizer, encoding = from_tiktoken(ranks), tiktoken_encoding(ranks)
        proof = {
            name: compare_with_tiktoken(tokenizer, encoding, chunks(read_corpus([path])))
            for name, path in check_files.items()
        }
        qwen_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save(str(qwen_dir / "tokenizer.json"))
        proof_path.write_text(json.dumps(proof, indent=2) + "\n")
    proof = json.loads(proof_path.read_text())
    bad = {k: v for k, v in proof.items() if v["mismatches"]}
    if bad:
        raise SystemExit(f"error: the rebuilt Qwen tokenizer differs from tiktoken: {bad}")
    summary = {key: sum(v[key] for v in proof.values()) for key in ("texts", "tokens", "mismatches")}
    return qwen_dir / "tokenizer.json", summary


def source_files(text: Path, names: list[str], split: str) -> list[Path]:
    """The files of these sources' split (train, heldout or sample)."""
    return [text / f"{name}_{split}.txt" for name in names]


def same_source_part(
    qwen_json: Path, text: Path, by_domain: dict[str, list[str]], tok: TokenizerAdaptConfig
) -> dict:
    """The pipeline on every source's training files, measured on their held-out files (same sources)."""
    from adaptation.corpus import read_corpus

    cfg = AdaptConfig(
        base_tokenizer=qwen_json,
        out_dir=WORK / "real",
        corpora=CorporaConfig(
            russian_train=source_files(text, by_domain["ru"], "train"),
            english_train=source_files(text, by_domain["en"], "train"),
            code_train=source_files(text, by_domain["code"], "train"),
            russian_heldout=source_files(text, by_domain["ru"], "heldout"),
            english_heldout=source_files(text, by_domain["en"], "heldout"),
            code_heldout=source_files(text, by_domain["code"], "heldout"),
        ),
        tokenizer=tok,
    )
    report = run_tokenizer_stages(cfg)
    report["tokenizer_config"] = tok.model_dump()
    report["cyrillic_share_ru_heldout"] = cyrillic_share(read_corpus(cfg.corpora.russian_heldout))
    return report


class CrossSource:
    """Leave-one-source-out: for each source, the whole adaptation (Russian BPE, both prunings, merge) on the
    training files of every *other* source, measured on the left-out source's sample. Token counts of the
    full Qwen vocabulary on each English/code source are taken once and summed per fold."""

    def __init__(
        self, qwen_json: Path, text: Path, by_domain: dict[str, list[str]], tok: TokenizerAdaptConfig
    ) -> None:
        from adaptation.corpus import read_corpus
        from adaptation.tokenizer.bpe import load_tokenizer
        from adaptation.tokenizer.prune import count_tokens

        self.qwen, self.text, self.by_domain, self.tok = load_tokenizer(qwen_json), text, by_domain, tok
        self.docs = {
            name: read_corpus(source_files(text, [name], "train"))
            for names in by_domain.values()
            for name in names
        }
        self.base_counts = {
            name: count_tokens(self.qwen, self.docs[name]) for d in ("en", "code") for name in by_domain[d]
        }
        self.russian: dict[tuple[str, ...], tuple] = {}

    def russian_side(self, names: tuple[str, ...]):
        """The pruned Russian tokenizer trained on these Russian sources (cached per set)."""
        from adaptation.tokenizer.prune import CANDIDATES, count_tokens, prune_by_counts
        from adaptation.tokenizer.train import train_like

        if names not in self.russian:
            docs = [doc for name in names for doc in self.docs[name]]
            trained = train_like(self.qwen, docs, self.tok.vocab_size, min_frequency=self.tok.min_frequency)
            counts = {"ru": count_tokens(trained, docs)}
            candidate = CANDIDATES[self.tok.russian_candidates]
            self.russian[names] = (trained, prune_by_counts(trained, counts, self.tok.coverage, candidate))
        return self.russian[names]

    def pruned_base(self, left_out: str | None, protected: int):
        """Qwen pruned on the English and code sources except `left_out`."""
        from collections import Counter

        from adaptation.tokenizer.prune import prune_by_counts

        counts = {}
        for domain in ("en", "code"):
            total: Counter[int] = Counter()
            for name in self.by_domain[domain]:
                if name != left_out:
                    total.update(self.base_counts[name])
            counts[domain] = total
        return prune_by_counts(self.qwen, counts, self.tok.coverage, protected_ids=protected)

    def merged(self, left_out: str | None, protected: int):
        from adaptation.tokenizer.merge import merge_tokenizers

        russian = tuple(n for n in self.by_domain["ru"] if n != left_out)
        _, pruned_russian = self.russian_side(russian)
        base = self.pruned_base(left_out, protected)
        return merge_tokenizers(self.qwen, base.tokenizer, pruned_russian.tokenizer, self.tok.added_tokens)

    def sample(self, name: str) -> list[str]:
        from adaptation.corpus import read_corpus

        return read_corpus(source_files(self.text, [name], "sample"))

    def fold(self, left_out: str) -> dict:
        """The left-out source's chars/token with Qwen and with the merged tokenizer built without it."""
        from adaptation.tokenizer.density import chars_per_token

        t0 = time.time()
        result = self.merged(left_out, self.tok.protected_base_ids)
        sample = self.sample(left_out)
        qwen, merged = chars_per_token(self.qwen, sample), chars_per_token(result.tokenizer, sample)
        log(
            f"fold {left_out}: {merged['chars_per_token'] / qwen['chars_per_token']:.3f}x ({time.time() - t0:.0f}s)"
        )
        return {
            "source": left_out,
            "chars": qwen["chars"],
            "tokens": {"qwen": qwen["tokens"], "merged": merged["tokens"]},
            "ids": result.stats["total"],
        }

    def protection_row(self, protected: int) -> dict:
        """Pruned base (what English and code go through) with a floor of protected ids: its size on all
        sources, the merged size, and English/code tokens on each left-out source."""
        from adaptation.tokenizer.density import chars_per_token

        folds = {}
        for domain in ("en", "code"):
            for name in self.by_domain[domain]:
                sample = self.sample(name)
                pruned = self.pruned_base(name, protected).tokenizer
                folds[name] = {
                    "domain": domain,
                    "qwen": chars_per_token(self.qwen, sample)["tokens"],
                    "pruned": chars_per_token(pruned, sample)["tokens"],
                }
        merged = self.merged(None, protected).stats
        return {"protected_base_ids": protected, "base_kept": merged["base_kept"], "total": merged["total"],
                "folds": folds, "ratio": pooled(folds, "pruned")}  # fmt: skip


def pooled(folds: dict, key: str) -> dict[str, float]:
    """Per domain, Qwen's tokens over `key`'s on the left-out samples together (chars/token ratio)."""
    out = {}
    for domain in ("ru", "en", "code"):
        rows = [f for f in folds.values() if f["domain"] == domain]
        if rows:
            out[domain] = sum(f["qwen"] for f in rows) / sum(f[key] for f in rows)
    return out


def cross_source_part(cross: CrossSource, protect_sweep: list[int]) -> dict:
    t0 = time.time()
    folds = {}
    for domain, names in cross.by_domain.items():
        for name in names:
            fold = cross.fold(name)
            folds[name] = {"domain": domain, "qwen": fold["tokens"]["qwen"], "merged": fold["tokens"]["merged"],
                           "chars": fold["chars"], "ids": fold["ids"]}  # fmt: skip
    sweep = [cross.protection_row(p) for p in protect_sweep]
    return {"folds": folds, "ratio": pooled(folds, "merged"), "protection_sweep": sweep,
            "seconds": round(time.time() - t0, 1)}  # fmt: skip


def demo_generalization(text: Path, sources: dict) -> dict:
    """The demo's base and adapted tokenizers on every source's sample (text the demo corpus never had)."""
    from adaptation.corpus import read_corpus
    from adaptation.tokenizer.bpe import load_tokenizer
    from adaptation.tokenizer.density import chars_per_token

    tokenizers = {"base": REPO / "artifacts/demo/base", "adapted": REPO / "artifacts/demo/adapted"}
    if not all((path / "tokenizer.json").is_file() for path in tokenizers.values()):
        log("demo models missing (specstack demo build-target): demo generalization skipped")
        return {}
    loaded = {name: load_tokenizer(path) for name, path in tokenizers.items()}
    folds = {}
    for name, info in sources.items():
        sample = read_corpus(source_files(text, [name], "sample"))
        counts = {k: chars_per_token(t, sample) for k, t in loaded.items()}
        folds[name] = {"domain": info["domain"], "chars": counts["base"]["chars"],
                       "qwen": counts["base"]["tokens"], "merged": counts["adapted"]["tokens"]}  # fmt: skip
    ids = {k: t.get_vocab_size(with_added_tokens=True) for k, t in loaded.items()}
    return {"folds": folds, "ratio": pooled(folds, "merged"), "ids": ids}


def real_part(russian_vocab: int, protected: int, protect_sweep: list[int]) -> dict:
    from bench.tokenizer_inputs import fetch_all

    cache = fetch_all()
    text = cache / "text"
    manifest = json.loads((cache / "manifest.json").read_text())
    by_domain: dict[str, list[str]] = {"ru": [], "en": [], "code": []}
    for name, info in manifest["sources"].items():
        by_domain[info["domain"]].append(name)
    qwen_json, check = rebuilt_qwen(cache, {n: text / f"{n}_sample.txt" for n in manifest["sources"]})
    tok = TokenizerAdaptConfig(vocab_size=russian_vocab, protected_base_ids=protected)
    t0 = time.time()
    report = same_source_part(qwen_json, text, by_domain, tok)
    report["cross_source"] = cross_source_part(CrossSource(qwen_json, text, by_domain, tok), protect_sweep)
    report["demo_generalization"] = demo_generalization(text, manifest["sources"])
    report["tiktoken_check"] = check
    report["inputs"] = manifest
    report["seconds_total"] = round(time.time() - t0, 1)
    return report


def cyrillic_share(documents: list[str]) -> float:
    text = unicodedata.normalize("NFC", "".join(documents))
    return sum(1 for c in text if "\u0400" <= c <= "\u04ff") / max(len(text), 1)


# ---- output -----------------------------------------------------------------------------------------------


def describe(name: str, report: dict, goals: dict[str, float] | None = None) -> str:
    merge, prune = report["merge"], report["prune"]
    lines = [f"### {name}", "", render_markdown(report)]
    lines.append(
        f"Kept: base {prune['base']['kept']:,} of {prune['base']['vocab']:,} "
        f"({prune['base']['protected']:,} protected ids, {prune['base']['kept_by_coverage']:,} by "
        f"{prune['base']['coverage']:.0%} coverage on "
        + " + ".join(f"{k} ({v['kept_by_coverage']:,})" for k, v in prune["base"]["corpora"].items())
        + f", the rest bytes and merge parents); Russian {prune['russian']['kept']:,} of "
        f"{prune['russian']['vocab']:,} ({prune['russian']['kept_by_coverage']:,} by coverage). "
        f"Merged: {merge['base_kept']:,} base + {merge['russian_appended']:,} Russian + "
        f"{merge['added_tokens']} added = {merge['total']:,} ids (base had {merge['base_vocab']:,})."
    )
    if goals:
        met = goals_met(report, goals)
        lines.append(
            "Goals (merged vs base): "
            + ", ".join(f"{d} >= {goals[d]}x: {'met' if ok else 'MISSED'}" for d, ok in met.items())
        )
    return "\n".join(lines) + "\n"


def sources_table(real: dict) -> str:
    """Every source: domain, packages, licence, and the characters of each split."""
    lines = [
        "| source | packages | licence | files | chars | train chars | held-out chars | sample chars |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in real["inputs"]["sources"].items():
        lines.append(
            f"| {name} | {', '.join(s['packages']) or 'Python ' + real['inputs']['python_stdlib']} | "
            f"{s['licence']} | {s['total']['files']:,} | {s['total']['chars']:,} | {s['train']['chars']:,} | "
            f"{s['heldout']['chars']:,} | {s['sample']['chars']:,} |"
        )
    return "\n".join(lines) + "\n"


def cross_table(real: dict) -> str:
    """The headline: each source measured by a merged tokenizer built without it, pooled per domain."""
    cross = real["cross_source"]
    lines = [
        "| held-out source | chars | Qwen chars/token | merged chars/token | merged / Qwen | merged ids |",
        "|---|---|---|---|---|---|",
    ]
    for name, f in cross["folds"].items():
        lines.append(
            f"| {name} | {f['chars']:,} | {f['chars'] / f['qwen']:.2f} | "
            f"{f['chars'] / f['merged']:.2f} | {f['qwen'] / f['merged']:.3f}× | {f['ids']:,} |"
        )
    for domain, ratio in cross["ratio"].items():
        rows = [f for f in cross["folds"].values() if f["domain"] == domain]
        chars = sum(f["chars"] for f in rows)
        lines.append(
            f"| **{DOMAIN_TITLES[domain]}, {len(rows)} sources pooled** | {chars:,} | "
            f"{chars / sum(f['qwen'] for f in rows):.2f} | {chars / sum(f['merged'] for f in rows):.2f} | "
            f"**{ratio:.3f}×** | |"
        )
    return "\n".join(lines) + "\n"


def sweep_table(real: dict) -> str:
    """Protected-id floors: base and merged size, English/code on the left-out sources."""
    lines = [
        "| protected base ids | base kept | merged ids | English / Qwen | code / Qwen |",
        "|---|---|---|---|---|",
    ]
    for row in real["cross_source"]["protection_sweep"]:
        lines.append(
            f"| {row['protected_base_ids']:,} | {row['base_kept']:,} | {row['total']:,} | "
            f"{row['ratio']['en']:.3f}× | {row['ratio']['code']:.3f}× |"
        )
    return "\n".join(lines) + "\n"


def demo_table(demo: dict) -> str:
    """The demo's base and adapted tokenizers on the sources' samples, pooled per domain."""
    lines = [
        f"| text (left-out of the demo corpus) | chars | base chars/token ({demo['ids']['base']:,} ids) | "
        f"adapted chars/token ({demo['ids']['adapted']:,} ids) | adapted / base |",
        "|---|---|---|---|---|",
    ]
    for domain, ratio in demo["ratio"].items():
        rows = [f for f in demo["folds"].values() if f["domain"] == domain]
        chars = sum(f["chars"] for f in rows)
        lines.append(
            f"| {DOMAIN_TITLES[domain]} ({len(rows)} sources) | {chars:,} | "
            f"{chars / sum(f['qwen'] for f in rows):.2f} | {chars / sum(f['merged'] for f in rows):.2f} | "
            f"{ratio:.3f}× |"
        )
    return "\n".join(lines) + "\n"


def real_goals(real: dict) -> dict[str, bool]:
    """The issue's goals on held-out sources, and the merged vocabulary no larger than Qwen's."""
    met = {d: real["cross_source"]["ratio"][d] >= goal for d, goal in GOALS.items()}
    met["ids"] = real["merge"]["total"] <= real["merge"]["base_vocab"]
    return met


def print_real(real: dict) -> None:
    check = real["tiktoken_check"]
    print(
        f"Qwen rebuild vs tiktoken: {check['mismatches']} mismatches in {check['texts']:,} chunks "
        f"({check['tokens']:,} tokens) of every source's sample.\n"
    )
    print("### Sources\n")
    print(sources_table(real))
    print("### Held-out sources (leave-one-source-out; the headline)\n")
    print(cross_table(real))
    print("### Protecting Qwen's base: floor of protected ids (pruned base on left-out English/code)\n")
    print(sweep_table(real))
    print(describe("Same sources, held-out files (secondary)", real))
    if real["demo_generalization"]:
        print("### Demo's merged tokenizer (SmolLM2-style base) on the sources above\n")
        print(demo_table(real["demo_generalization"]))
    lowest = {}
    for name, f in real["cross_source"]["folds"].items():
        if f["domain"] not in lowest or f["qwen"] / f["merged"] < lowest[f["domain"]][1]:
            lowest[f["domain"]] = (name, f["qwen"] / f["merged"])
    print("Lowest single source: " + ", ".join(f"{n} {r:.3f}x" for n, r in lowest.values()) + ".")
    met = real_goals(real)
    print(
        "Goals on held-out sources: "
        + ", ".join(f"{d} >= {GOALS[d]}x: {'met' if met[d] else 'MISSED'}" for d in GOALS)
        + f"; merged ids {real['merge']['total']:,} <= Qwen's {real['merge']['base_vocab']:,}: "
        + ("met" if met["ids"] else "MISSED")
        + f". Real part: {real['seconds_total']:.0f} s."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument(
        "--russian-vocab", type=int, default=RUSSIAN_VOCAB, help="Russian tokenizer size (real part)."
    )
    parser.add_argument(
        "--protected-base-ids",
        type=int,
        default=PROTECTED_BASE_IDS,
        help="Qwen ids kept whatever the pruning.",
    )
    parser.add_argument(
        "--protect-sweep",
        default=",".join(map(str, PROTECT_SWEEP)),
        help="Floors of protected ids to compare on the left-out English/code sources ('' for none).",
    )
    args = parser.parse_args()
    results: dict = {"goals": GOALS, "demo_goals": DEMO_GOALS, "reference": REFERENCE}
    if RESULTS.is_file():
        previous = json.loads(RESULTS.read_text())
        results.update({k: previous[k] for k in ("demo", "real") if k in previous})
    ok = True
    if not args.skip_demo:
        results["demo"] = demo_part()
        ids = next(r["ids"] for r in results["demo"]["rows"] if r["name"] == "base")
        print(describe(f"Demo corpus (demo base tokenizer, {ids:,} ids)", results["demo"], DEMO_GOALS))
        ok &= all(goals_met(results["demo"], DEMO_GOALS).values())
    if not args.skip_real:
        sweep = [int(x) for x in args.protect_sweep.split(",") if x]
        results["real"] = real_part(args.russian_vocab, args.protected_base_ids, sweep)
        print_real(results["real"])
        ok &= all(real_goals(results["real"]).values())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {RESULTS.relative_to(REPO)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
