"""`specstack adapt ...`: tokenizer (train, prune, merge, report) and embeddings (init, freeze, unfreeze).

Every command reads the `adapt:` section of `--config FILE` (optional: defaults otherwise) and lets flags
override its fields. Stages are cached by a key of their inputs; `--force` rebuilds. Heavy imports stay
inside the commands so `--help` is fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

PATH = click.Path(path_type=Path)

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=PATH,
    help="Run config (YAML) with an adapt: section (defaults if omitted).",
)
FORCE_OPTION = click.option(
    "--force", is_flag=True, help="Rebuild even if up to date (training stages start over, not resume)."
)

# flag -> (dotted field of the adapt section, click option kwargs)
COMMON_FLAGS: dict[str, tuple[str, dict]] = {
    "--base-model": ("base_model", {"type": PATH, "help": "Base model (HF dir or GGUF file)."}),
    "--base-tokenizer": (
        "base_tokenizer",
        {
            "type": PATH,
            "help": "Base tokenizer: HF dir, tokenizer.json or *.tiktoken (default: the model's).",
        },
    ),
    "--out-dir": ("out_dir", {"type": PATH, "help": "Where the stages write."}),
    "--seed": ("seed", {"type": int, "help": "Seed."}),
}
CORPUS_FLAGS: dict[str, tuple[str, dict]] = {
    f"--{name.replace('_', '-')}": (f"corpora.{name}", {"type": PATH, "multiple": True, "help": help_})
    for name, help_ in {
        "russian_train": "Russian training text file (repeatable).",
        "english_train": "English training text file (repeatable).",
        "code_train": "Code training text file (repeatable).",
        "russian_heldout": "Held-out Russian text file (repeatable).",
        "english_heldout": "Held-out English text file (repeatable).",
        "code_heldout": "Held-out code text file (repeatable).",
    }.items()
}
TOKENIZER_FLAGS: dict[str, tuple[str, dict]] = {
    "--vocab-size": ("tokenizer.vocab_size", {"type": int, "help": "Russian tokenizer size."}),
    "--min-frequency": (
        "tokenizer.min_frequency",
        {"type": int, "help": "Minimum pair frequency for a merge."},
    ),
    "--coverage": ("tokenizer.coverage", {"type": float, "help": "Share of token occurrences kept (0.99)."}),
    "--russian-candidates": (
        "tokenizer.russian_candidates",
        {"type": click.Choice(["cyrillic", "non_latin"]), "help": "Which Russian tokens may be kept."},
    ),
}
EMBEDDING_FLAGS: dict[str, tuple[str, dict]] = {
    "--pad-to-multiple-of": ("embeddings.pad_to_multiple_of", {"type": int, "help": "Round rows up."}),
    "--seq-len": ("embeddings.seq_len", {"type": int, "help": "Tokens per training sequence."}),
    "--eval-documents": ("embeddings.eval_documents", {"type": int, "help": "Held-out docs per domain."}),
}


def stage_flags(stage: str) -> dict[str, tuple[str, dict]]:
    """--steps/--lr/--batch-size of one training stage (freeze or unfreeze)."""
    return {
        "--steps": (f"embeddings.{stage}.max_steps", {"type": int, "help": "Optimizer steps."}),
        "--lr": (f"embeddings.{stage}.lr", {"type": float, "help": "Peak learning rate."}),
        "--batch-size": (f"embeddings.{stage}.batch_size", {"type": int, "help": "Sequences per step."}),
    }


def with_flags(*tables: dict[str, tuple[str, dict]]) -> Callable:
    """Add the flags of `tables` to a command; they arrive in **overrides keyed by dotted field."""

    def decorate(f: Callable) -> Callable:
        for table in reversed(tables):
            for flag, (field, kwargs) in reversed(table.items()):
                f = click.option(flag, field.replace(".", "__"), **kwargs)(f)
        return f

    return decorate


def load_adapt_config(config_path: Path | None, overrides: dict[str, Any]):
    """The adapt: section (or defaults) with the given flags applied, validated again."""
    from adaptation.config import AdaptConfig
    from specstack.configbase import validate

    if config_path is not None:
        from specstack.config import load_run_config, require_section

        data = require_section(load_run_config(config_path), "adapt", config_path).model_dump(mode="json")
    else:
        data = AdaptConfig().model_dump(mode="json")
    for key, value in overrides.items():
        if value is None or value == ():
            continue
        *parents, leaf = key.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = [str(v) for v in value] if isinstance(value, tuple) else value
    from adaptation.pipeline import hf_base_model

    return hf_base_model(
        validate(AdaptConfig, data, str(config_path) if config_path else "command-line flags")
    )


@click.group()
def adapt() -> None:
    """Adapt a base model to Russian: tokenizer (train, prune, merge, report), embeddings (init, freeze,
    unfreeze)."""


@adapt.group()
def tokenizer() -> None:
    """Russian BPE on the base's pipeline, prune both sides at a coverage percentile, merge, report density."""


@adapt.group()
def embeddings() -> None:
    """Resize to the merged vocabulary, train new rows with old rows frozen, then train everything."""


@tokenizer.command("train")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, TOKENIZER_FLAGS)
@FORCE_OPTION
def tokenizer_train(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """Train the Russian byte-level BPE with exactly the base tokenizer's normalizer/pre-tokenizer/decoder."""
    from adaptation.pipeline import tokenizer_train_stage

    click.echo(tokenizer_train_stage(load_adapt_config(config_path, overrides), force))


@tokenizer.command("prune")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, TOKENIZER_FLAGS)
@FORCE_OPTION
def tokenizer_prune(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """Keep the base's tokens English/code use and the Russian side's tokens Russian uses (coverage)."""
    from adaptation.pipeline import tokenizer_prune_stage

    for path in tokenizer_prune_stage(load_adapt_config(config_path, overrides), force):
        click.echo(path)


@tokenizer.command("merge")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, TOKENIZER_FLAGS)
@FORCE_OPTION
def tokenizer_merge(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """Append the Russian tokens and merges to the pruned base; write an HF tokenizer dir."""
    from adaptation.pipeline import tokenizer_merge_stage

    click.echo(tokenizer_merge_stage(load_adapt_config(config_path, overrides), force))


@tokenizer.command("report")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, TOKENIZER_FLAGS)
@FORCE_OPTION
@click.option("--json", "json_path", type=PATH, help="Also write the report as JSON here.")
def tokenizer_report(config_path: Path | None, force: bool, json_path: Path | None, **overrides: Any) -> None:
    """Print the density table: tokens with Cyrillic/Latin/other, chars/token on held-out ru/en/code."""
    from adaptation.pipeline import tokenizer_report_stage
    from adaptation.tokenizer.report import render_markdown
    from specstack.io import atomic_write_json

    report = tokenizer_report_stage(load_adapt_config(config_path, overrides), force)
    click.echo(render_markdown(report), nl=False)
    if json_path:
        atomic_write_json(json_path, report)


@embeddings.command("init")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, EMBEDDING_FLAGS)
@FORCE_OPTION
def embeddings_init(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """Resize the base model to the merged vocabulary; new rows start as the mean of their base pieces."""
    from adaptation.pipeline import embeddings_init_stage

    click.echo(embeddings_init_stage(load_adapt_config(config_path, overrides), force))


@embeddings.command("freeze")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, EMBEDDING_FLAGS, stage_flags("freeze"))
@FORCE_OPTION
def embeddings_freeze(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """Train only the embedding matrices, old-token rows frozen by gradient hooks (resumes a killed run)."""
    from adaptation.pipeline import embeddings_stage

    click.echo(embeddings_stage(load_adapt_config(config_path, overrides), "freeze", force))


@embeddings.command("unfreeze")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, EMBEDDING_FLAGS, stage_flags("unfreeze"))
@FORCE_OPTION
def embeddings_unfreeze(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """Train all parameters on the same data (resumes a killed run)."""
    from adaptation.pipeline import embeddings_stage

    click.echo(embeddings_stage(load_adapt_config(config_path, overrides), "unfreeze", force))


@adapt.command("run")
@CONFIG_OPTION
@with_flags(COMMON_FLAGS, CORPUS_FLAGS, TOKENIZER_FLAGS, EMBEDDING_FLAGS)
@FORCE_OPTION
def run_all(config_path: Path | None, force: bool, **overrides: Any) -> None:
    """The whole chain: train, prune, merge, report, init, freeze, unfreeze (cached stages are skipped)."""
    from adaptation.pipeline import adapt_all

    click.echo(adapt_all(load_adapt_config(config_path, overrides), force))


# ---- post-training: sft, grpo, preferences, dpo (adaptation/posttrain.py has the defaults chain) ----

SFT_FLAGS: dict[str, tuple[str, dict]] = {
    "--out-dir": ("out_dir", {"type": PATH, "help": "Where the stages write (outputs under out_dir/post)."}),
    "--model": ("post.sft.model", {"type": PATH, "help": "Model to train (default: the adapted model)."}),
    "--data": ("post.sft.data", {"type": PATH, "help": "Chat JSONL."}),
    "--steps": ("post.sft.train.max_steps", {"type": int, "help": "Optimizer steps."}),
    "--lr": ("post.sft.train.lr", {"type": float, "help": "Peak learning rate."}),
    "--batch-size": ("post.sft.train.batch_size", {"type": int, "help": "Conversations per batch."}),
    "--max-length": ("post.sft.train.max_length", {"type": int, "help": "Tokens per conversation."}),
    "--group-by-length/--no-group-by-length": (
        "post.sft.train.group_by_length",
        {"default": None, "help": "Batch conversations of similar length (less padding)."},
    ),
}
GRPO_FLAGS: dict[str, tuple[str, dict]] = {
    "--out-dir": SFT_FLAGS["--out-dir"],
    "--model": ("post.grpo.model", {"type": PATH, "help": "Model to train (default: the SFT output)."}),
    "--prompts": ("post.grpo.prompts", {"type": PATH, "help": "RL prompts JSONL."}),
    "--domain": (
        "post.grpo.train.domains",
        {
            "type": click.Choice(["fc", "math", "code"]),
            "multiple": True,
            "help": "Domain, in order (repeatable).",
        },
    ),
    "--steps": ("post.grpo.train.max_steps", {"type": int, "help": "Optimizer steps per domain."}),
    "--lr": ("post.grpo.train.lr", {"type": float, "help": "Learning rate."}),
    "--num-generations": (
        "post.grpo.train.num_generations",
        {"type": int, "help": "Completions per prompt."},
    ),
    "--max-prompts": ("post.grpo.train.max_prompts", {"type": int, "help": "Prompts per domain at most."}),
    "--difficulty-filter/--no-difficulty-filter": (
        "post.grpo.train.difficulty_filter.enabled",
        {"default": None, "help": "Drop prompts solved k/k first."},
    ),
}
PREFERENCE_FLAGS: dict[str, tuple[str, dict]] = {
    "--out-dir": SFT_FLAGS["--out-dir"],
    "--prompts": ("post.preferences.prompts", {"type": PATH, "help": "Prompts JSONL ({prompt, kind})."}),
    "--output": ("post.preferences.output", {"type": PATH, "help": "Pairs JSONL to write."}),
    "--policy-url": ("post.preferences.build.policy.url", {"help": "Endpoint answers are sampled from."}),
    "--policy-model": ("post.preferences.build.policy.model", {"help": "Model name at the policy endpoint."}),
    "--judge-url": ("post.preferences.build.judge.url", {"help": "The judge's endpoint."}),
    "--judge-model": ("post.preferences.build.judge.model", {"help": "Model name at the judge endpoint."}),
    "--samples": ("post.preferences.build.samples", {"type": int, "help": "Answers per prompt."}),
}
DPO_FLAGS: dict[str, tuple[str, dict]] = {
    "--out-dir": SFT_FLAGS["--out-dir"],
    "--model": ("post.dpo.model", {"type": PATH, "help": "Model to train (default: the GRPO output)."}),
    "--pairs": ("post.dpo.pairs", {"type": PATH, "help": "Pairs JSONL (default: the preferences output)."}),
    "--steps": ("post.dpo.train.max_steps", {"type": int, "help": "Optimizer steps."}),
    "--lr": ("post.dpo.train.lr", {"type": float, "help": "Peak learning rate."}),
    "--beta": ("post.dpo.train.beta", {"type": float, "help": "DPO beta."}),
}


@adapt.command("sft")
@CONFIG_OPTION
@with_flags(SFT_FLAGS)
def sft_command(config_path: Path | None, **overrides: Any) -> None:
    """Supervised fine-tuning on chat JSONL (TRL SFTTrainer, assistant tokens only, resumable)."""
    from adaptation.posttrain import PostLayout, need_file, need_model
    from adaptation.sft import run_sft

    cfg = load_adapt_config(config_path, overrides)
    lay = PostLayout(cfg.out_dir, cfg.post)
    model = need_model(lay.sft_model, "sft")
    data = need_file(cfg.post.sft.data, "SFT data", "--data")
    click.echo(run_sft(model, data, lay.sft_out, cfg.post.sft.train))


@adapt.command("grpo")
@CONFIG_OPTION
@with_flags(GRPO_FLAGS)
@click.option(
    "--filter-endpoint", help="OpenAI-compatible URL the difficulty filter samples from (default: local)."
)
def grpo_command(config_path: Path | None, filter_endpoint: str | None, **overrides: Any) -> None:
    """GRPO with rule-based rewards (fc, math, code in turn), after dropping prompts solved k/k."""
    from adaptation.grpo import run_grpo
    from adaptation.posttrain import PostLayout, need_file, need_model
    from adaptation.sampling import EndpointConfig

    cfg = load_adapt_config(config_path, overrides)
    if filter_endpoint:
        cfg.post.grpo.train.difficulty_filter.endpoint = EndpointConfig(url=filter_endpoint)
    lay = PostLayout(cfg.out_dir, cfg.post)
    model = need_model(lay.grpo_model, "grpo")
    prompts = need_file(cfg.post.grpo.prompts, "RL prompts", "--prompts")
    click.echo(run_grpo(model, prompts, lay.grpo_out, cfg.post.grpo.train))


@adapt.command("preferences")
@CONFIG_OPTION
@with_flags(PREFERENCE_FLAGS)
def preferences_command(config_path: Path | None, **overrides: Any) -> None:
    """Sample N answers per prompt, let a judge pick best/worst, balance by length, write DPO pairs."""
    from adaptation.posttrain import PostLayout, need_file
    from adaptation.preferences import build_preferences

    cfg = load_adapt_config(config_path, overrides)
    lay = PostLayout(cfg.out_dir, cfg.post)
    prompts = need_file(cfg.post.preferences.prompts, "preference prompts", "--prompts")
    stats = build_preferences(prompts, lay.preferences_out, cfg.post.preferences.build)
    click.echo(f"{lay.preferences_out}: {stats.pairs} pairs from {stats.prompts} prompts")


@adapt.command("dpo")
@CONFIG_OPTION
@with_flags(DPO_FLAGS)
def dpo_command(config_path: Path | None, **overrides: Any) -> None:
    """DPO on preference pairs (TRL DPOTrainer, resumable)."""
    from adaptation.dpo import run_dpo
    from adaptation.posttrain import PostLayout, need_file, need_model

    cfg = load_adapt_config(config_path, overrides)
    lay = PostLayout(cfg.out_dir, cfg.post)
    model = need_model(lay.dpo_model, "dpo")
    click.echo(
        run_dpo(
            model, need_file(lay.dpo_pairs, "preference pairs", "--pairs"), lay.dpo_out, cfg.post.dpo.train
        )
    )


# ---- synthetic function-calling data (adaptation/synth_fc/) ----

SYNTH_FC_ROLES = {
    "generator": "blueprint generator",
    "judge": "judge (blueprints, dialogues)",
    "user": "user simulator",
    "assistant": "assistant",
    "api": "API emulator",
    "stop": "stop decider",
}
SYNTH_FC_FLAGS: dict[str, tuple[str, dict]] = {
    "--out-dir": ("out_dir", {"type": PATH, "help": "The default output is <out-dir>/post/synth_fc.jsonl."}),
    "--tools": ("synth_fc.tools", {"type": PATH, "help": "Tool specs: JSON list or JSONL of OpenAI tools."}),
    "--personas": (
        "synth_fc.personas",
        {"type": PATH, "help": "Personas, one per line (default: built-in)."},
    ),
    "--output": ("synth_fc.output", {"type": PATH, "help": "SFT JSONL to write."}),
    "--samples": ("synth_fc.samples", {"type": int, "help": "Samples to attempt."}),
    "--seed": ("synth_fc.seed", {"type": int, "help": "Seed of the tools/persona picks."}),
    "--max-turns": ("synth_fc.max_turns", {"type": int, "help": "User turns at most."}),
    "--workers": ("synth_fc.workers", {"type": int, "help": "Samples simulated at once."}),
    "--endpoint-url": ("synth_fc.endpoint.url", {"help": "Endpoint every role uses unless given its own."}),
    "--endpoint-model": (
        "synth_fc.endpoint.model",
        {"help": "Model name every role uses unless given its own."},
    ),
    **{
        f"--{role}-{key}": (
            f"synth_fc.{role}.{key}",
            {"help": f"{what} of the {name} (default: --endpoint-{key})."},
        )
        for role, name in SYNTH_FC_ROLES.items()
        for key, what in (("url", "Endpoint"), ("model", "Model name"))
    },
}


@adapt.command("synth-fc")
@CONFIG_OPTION
@with_flags(SYNTH_FC_FLAGS)
def synth_fc_command(config_path: Path | None, **overrides: Any) -> None:
    """Synthetic function-calling SFT data (APIGen-MT): blueprint with judge feedback, then a dialogue
    simulated by user, assistant, API-emulator and stop-decider roles, kept if the judge passes it; resumable."""
    from adaptation.posttrain import need_file
    from adaptation.synth_fc.pipeline import build_synth_fc

    cfg = load_adapt_config(config_path, overrides)
    tools = need_file(cfg.synth_fc.tools, "tool specs", "--tools")
    output = cfg.synth_fc.output or cfg.out_dir / "post" / "synth_fc.jsonl"
    stats = build_synth_fc(tools, output, cfg.synth_fc)
    click.echo(
        f"{output}: kept {stats.kept} of {stats.samples} samples (dropped: blueprint "
        f"{stats.dropped_blueprint}, simulation {stats.dropped_simulation}, final judge {stats.dropped_final_judge})"
    )
