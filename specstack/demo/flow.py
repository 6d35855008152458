"""`make demo`: the whole flow on the embedded default, each stage cached, with a summary at the end.

corpus -> base -> adapted to Russian -> target [-> GRPO -> DPO -> eval, when demo.post.in_demo] -> EAGLE-3 draft (train + offline τ) -> vLLM engines (speculative and plain)
-> load test (batch sweep + fixed rate) -> report. Stages whose config section is absent are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from specstack.config import RunConfig, load_run_config, require_section

console = Console()


def run_demo(config_path: Path) -> None:
    """Run every stage the config has sections for, then print where everything is and what was measured."""
    from specstack.demo.build import build_models

    run = load_run_config(config_path)
    cfg = require_section(run, "demo", config_path)
    summaries = {
        "corpus": _corpus_summary,
        "base": _base_summary,
        "adapted": _adapted_summary,
        "target": _target_summary,
    }
    rows = [(name, path, summaries[name](path)) for name, path in build_models(cfg, run.seed).items()]
    if cfg.post.in_demo:
        from specstack.demo.posttrain import describe_posttrain, run_posttrain

        console.rule("post-training: GRPO, DPO, eval")
        rows.append(("post-training", run_posttrain(run, cfg), describe_posttrain(cfg)))
    if run.draft is not None:
        rows.append(("draft", *_draft_stage(run)))
    if run.loadtest is not None:
        from loadtest.runner import run_demo_loadtest

        console.rule("load test: speculative vs plain on vLLM")
        report = run_demo_loadtest(run)
        rows.append(("load test", report, _loadtest_summary(report)))

    table = Table(title="specstack demo")
    for column in ("stage", "where", "measured"):
        table.add_column(column)
    for name, path, summary in rows:
        table.add_row(name, str(path), summary)
    console.print(table)


def _loadtest_summary(report_md: Path) -> str:
    """The report's headline numbers: speedup and τ at batch 1, where speculation stops paying."""
    summary = json.loads((report_md.parent / "report.json").read_text(encoding="utf-8"))["summary"]
    parts = []
    if summary.get("speedup_batch1") is not None:
        parts.append(
            f"speedup at batch 1 {summary['speedup_batch1']:.2f}x (τ {summary.get('tau_batch1') or 0:.2f})"
        )
    stop = summary.get("stops_paying_at")
    parts.append(f"stops paying at batch {stop}" if stop else "pays at every batch tested")
    return "; ".join(parts) + "; plots in report.md"


def _draft_stage(run: RunConfig) -> tuple[Path, str]:
    """Train the draft (cached by its config) and measure τ offline on held-out prompts."""
    from draft_training.evaluate import evaluate
    from draft_training.train import train

    console.rule("EAGLE-3 draft")
    out = train(run.draft)
    result = evaluate(run.draft, out)
    k_max = run.draft.eval.max_k
    taus = ", ".join(f"k={k} {result.tau[k]:.2f}" for k in (1, min(4, k_max), k_max))
    return out, f"offline τ {taus}"


def _corpus_summary(path: Path) -> str:
    from specstack.demo.build import describe

    files = describe(path)["summary"]["files"]
    return (
        f"{files['sft_train.jsonl']['rows']} SFT conversations, {files['rl_train.jsonl']['rows']} RL prompts"
    )


def _base_summary(path: Path) -> str:
    from specstack.demo.build import describe

    stamp = describe(path)
    source = stamp.get("source", {})
    origin = source.get("package") or source.get("file") or source.get("path", "?")
    return f"{source.get('name') or 'local model'} from {origin}, {stamp.get('parameters', 0) / 1e6:.1f}M parameters"


def _adapted_summary(path: Path) -> str:
    from specstack.demo.build import describe

    adaptation = describe(path)["adaptation"]
    merged = adaptation["density"]["merged"]
    before, after = adaptation["heldout_before"]["ru"], adaptation["heldout_after"]["ru"]
    return (
        f"{merged['ids']:,} ids, Russian {merged['vs_base']['ru']:.2f}x denser; held-out Russian loss/char "
        f"{before['loss_per_char']:.3f} -> {after['loss_per_char']:.3f}"
    )


def _target_summary(path: Path) -> str:
    from specstack.demo.build import describe

    return f"held-out assistant-token ppl {describe(path)['heldout_chat']['perplexity']:.2f}"
