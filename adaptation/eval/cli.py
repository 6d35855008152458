"""`specstack eval`: compare checkpoints on task accuracy, perplexity and tokenizer density; one table.

Writes `<out>/eval.json` (every number, with the n it was measured on) and `<out>/eval.md` (the table),
atomically, and prints the table. Heavy imports stay inside the command so `--help` is fast.
"""

from __future__ import annotations

from pathlib import Path

import click

PATH = click.Path(path_type=Path)
COUNT = click.IntRange(min=1)


def parse_pairs(values: tuple[str, ...], flag: str, what: str) -> dict[str, str]:
    """`NAME=VALUE` flags as an ordered dict; a malformed or repeated NAME is a usage error."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"expected NAME={what}, got {value!r}", param_hint=flag)
        if name in out:
            raise click.BadParameter(f"{name!r} is given twice", param_hint=flag)
        out[name] = rest
    return out


@click.command("eval")
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    metavar="NAME=DIR",
    help="A checkpoint to evaluate (HF dir), named as its table row; repeatable, rows in this order.",
)
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="NAME=URL",
    help="Take checkpoint NAME's task answers from this OpenAI-compatible endpoint (temperature 0) "
    "instead of local generation; perplexity still reads its DIR. Repeatable.",
)
@click.option(
    "--rl-data",
    type=PATH,
    help="RL prompts JSONL (domain fc/math/code with golden calls, answers, tests): task accuracy.",
)
@click.option("--chat-data", type=PATH, help="Chat JSONL: perplexity on the assistant tokens.")
@click.option(
    "--text-dir",
    type=PATH,
    help="Directory of <lang>_heldout.txt files: text perplexity and chars/token per language.",
)
@click.option(
    "--max-prompts",
    type=COUNT,
    metavar="N",
    help="Use N RL prompts, taken evenly over domain and category (default: all).",
)
@click.option(
    "--max-conversations", type=COUNT, metavar="N", help="Use the first N conversations (default: all)."
)
@click.option(
    "--max-documents", type=COUNT, metavar="N", help="Use the first N documents per language (default: all)."
)
@click.option(
    "--max-new-tokens",
    type=COUNT,
    metavar="N",
    default=512,
    show_default=True,
    help="Longest answer generated per prompt.",
)
@click.option("--out", "out_dir", type=PATH, required=True, help="Where eval.json and eval.md go.")
def evaluate(models: tuple[str, ...], endpoints: tuple[str, ...], rl_data: Path | None,
             chat_data: Path | None, text_dir: Path | None, max_prompts: int | None,
             max_conversations: int | None, max_documents: int | None, max_new_tokens: int,
             out_dir: Path) -> None:  # fmt: skip
    """Evaluate checkpoints on the same held-out data: function-calling accuracy by category (simple,
    multiple, parallel, irrelevance), math and code accuracy (greedy answers scored by the GRPO rewards),
    chat perplexity on assistant tokens, text perplexity and chars/token per language.

    \b
    specstack eval --model base=artifacts/demo/base --model target=artifacts/demo/target \\
        --rl-data artifacts/demo/corpus/rl_heldout.jsonl --chat-data artifacts/demo/corpus/sft_heldout.jsonl \\
        --text-dir artifacts/demo/corpus/text --max-prompts 60 --out artifacts/eval
    """
    from adaptation.eval.inputs import read_eval_data
    from adaptation.eval.run import Checkpoint, evaluate_checkpoints
    from adaptation.eval.table import render_markdown
    from specstack.io import atomic_write_json, atomic_write_text
    from specstack.progress import progress_bar

    named = parse_pairs(models, "--model", "DIR")
    urls = parse_pairs(endpoints, "--endpoint", "URL")
    if unknown := sorted(set(urls) - set(named)):
        raise click.BadParameter(f"no --model named {unknown[0]!r}", param_hint="--endpoint")
    checkpoints = [Checkpoint(name, Path(path), urls.get(name)) for name, path in named.items()]
    data = read_eval_data(rl_data, chat_data, text_dir, max_prompts, max_conversations, max_documents)
    report = evaluate_checkpoints(checkpoints, data, max_new_tokens, progress_bar())
    inputs = {"rl_data": rl_data, "chat_data": chat_data, "text_dir": text_dir}
    report["inputs"] = {k: str(v) if v else None for k, v in inputs.items()}
    table = render_markdown(report)
    atomic_write_json(out_dir / "eval.json", report)
    atomic_write_text(out_dir / "eval.md", table)
    click.echo(table, nl=False)
    click.echo(f"wrote {out_dir / 'eval.json'} and {out_dir / 'eval.md'}", err=True)
