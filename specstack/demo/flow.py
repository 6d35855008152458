"""`make demo`: the whole flow on the embedded default, each stage cached, with a summary at the end."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from specstack.config import load_run_config, require_section

console = Console()


def run_demo(config_path: Path) -> None:
    """Build corpus, base and target, then print where everything is and what was measured."""
    from specstack.demo.build import build_base_stage, build_corpus_stage, build_target_stage, describe

    run = load_run_config(config_path)
    cfg = require_section(run, "demo", config_path)
    corpus = build_corpus_stage(cfg)
    base = build_base_stage(cfg, run.seed)
    target = build_target_stage(cfg, run.seed)

    table = Table(title="specstack demo")
    table.add_column("stage")
    table.add_column("where")
    table.add_column("measured")
    table.add_row("corpus", str(corpus), f"{describe(corpus)['summary'].get('sft_train', '?')} SFT conversations")
    base_ppl = describe(base)["heldout"]
    table.add_row(
        "base",
        str(base),
        "held-out ppl " + ", ".join(f"{k} {v['perplexity']:.2f}" for k, v in base_ppl.items()),
    )
    chat = describe(target)["heldout_chat"]
    table.add_row("target", str(target), f"held-out assistant ppl {chat['perplexity']:.2f}")
    console.print(table)
