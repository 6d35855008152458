"""`specstack draft ...`: train, evaluate and hand off EAGLE-3 draft heads. Heavy imports stay inside commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Run config (YAML) with a draft: section.",
)


def override_options(f):
    """Flags that override fields of the draft: section (unset flags keep the config's value)."""
    options = [
        click.option("--target-model", help="Target model directory."),
        click.option("--train-data", help="Training SFT JSONL."),
        click.option("--eval-data", help="Held-out SFT JSONL."),
        click.option("--output-dir", help="Where the exported draft goes."),
        click.option("--run-dir", help="Checkpoints, logs, caches."),
        click.option(
            "--head-type", type=click.Choice(["eagle3", "eagle2"]), help="eagle3, or the eagle2 ablation."
        ),
        click.option("--ttt-steps", type=int, help="Training-time-test unroll length."),
        click.option("--batch-size", type=int, help="Conversations per micro-batch."),
        click.option("--steps", type=int, help="Optimizer steps (optim.steps)."),
        click.option("--draft-vocab-size", type=int, help="Draft vocabulary size."),
        click.option(
            "--hidden-states", type=click.Choice(["online", "offline"]), help="Target states source."
        ),
        click.option("--backend", type=click.Choice(["native", "specforge"]), help="Trainer backend."),
        click.option("--seed", type=int, help="Seed."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def load_draft_config(config_path: Path, **overrides: Any):
    """The draft: section of the run config with command-line overrides applied (validated again)."""
    from specstack.config import load_run_config, require_section
    from specstack.configbase import with_overrides

    section = require_section(load_run_config(config_path), "draft", config_path)
    steps = overrides.pop("steps", None)
    cfg = with_overrides(section, **overrides)
    if steps is not None:
        cfg = with_overrides(cfg, optim=cfg.optim.model_copy(update={"steps": steps}).model_dump())
    return cfg


@click.group()
def draft() -> None:
    """Train an EAGLE-3 draft head for a target, evaluate its acceptance length, hand off to SpecForge."""


@draft.command()
@CONFIG_OPTION
@override_options
@click.option("--retrain", is_flag=True, help="Train again even if output_dir holds a draft of this config.")
@click.option(
    "--launch", is_flag=True, help="backend specforge: also run the written launch script (GPU node)."
)
def train(config_path: Path, retrain: bool, launch: bool, **overrides: Any) -> None:
    """Train the draft (resuming a killed run) and export it to output_dir."""
    cfg = load_draft_config(config_path, **overrides)
    if cfg.backend == "specforge":
        from draft_training.specforge_backend import launch_run, write_run

        run = write_run(cfg, config_path)
        click.echo(
            f"SpecForge run written to {run.root}\nlaunch on a GPU node with:\n  bash {run.launch_script}"
        )
        if launch:
            launch_run(run)
        return
    from draft_training.train import train as train_draft

    train_draft(cfg, retrain=retrain)


@draft.command("eval")
@CONFIG_OPTION
@override_options
@click.option(
    "--draft", "draft_dir", type=click.Path(path_type=Path), help="Draft to evaluate (default output_dir)."
)
@click.option("--max-k", type=int, help="Longest chain evaluated (eval.max_k).")
@click.option("--num-prompts", type=int, help="Held-out prompts (eval.num_prompts).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the result here.")
def eval_cmd(
    config_path: Path,
    draft_dir: Path | None,
    max_k: int | None,
    num_prompts: int | None,
    json_path: Path | None,
    **overrides: Any,
) -> None:
    """Offline τ (acceptance length) of greedy chain drafting for k = 1..max_k on held-out prompts."""
    from draft_training.evaluate import evaluate, render_positions, render_table
    from specstack.io import atomic_write_json

    cfg = load_draft_config(config_path, **overrides)
    ev = cfg.eval.model_copy(
        update={k: v for k, v in {"max_k": max_k, "num_prompts": num_prompts}.items() if v}
    )
    cfg = cfg.model_copy(update={"eval": ev})
    result = evaluate(cfg, draft_dir)
    name = Path(result.draft).name
    click.echo(render_table({name: result}))
    click.echo(f"\nper-position acceptance, k={cfg.eval.max_k}:\n" + render_positions(result, cfg.eval.max_k))
    click.echo(
        f"\n{result.prompts} prompts, {result.tokens} tokens, {result.verify_steps[cfg.eval.max_k]} verify steps"
    )
    out = json_path or Path(cfg.run_dir) / "eval" / f"tau-{name}.json"
    atomic_write_json(out, result.to_json())
    click.echo(f"wrote {out}")


@draft.command("import-specforge")
@CONFIG_OPTION
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="A SpecForge export (`specforge export --to sglang`) or HF-format draft directory.",
)
@click.option("--output-dir", type=click.Path(path_type=Path), help="Where the normalised draft goes.")
def import_specforge(config_path: Path, source: Path, output_dir: Path | None) -> None:
    """Normalise a SpecForge-trained draft to this project's checkpoint contract."""
    from draft_training.specforge_backend import normalize

    cfg = load_draft_config(config_path)
    click.echo(normalize(source, cfg.target_model, output_dir or Path(cfg.output_dir)))
