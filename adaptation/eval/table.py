"""The evaluation report as one Markdown table: checkpoints as rows, metrics as columns, then a line of n.

Columns follow what was measured (the first checkpoint's entry; all share the data): FC accuracy per
category and over all FC prompts, math and code accuracy (%, rows whose reward is 1), chat perplexity on
assistant tokens, text perplexity and chars/token per language.
"""

from __future__ import annotations

from collections.abc import Callable

FC_CATEGORIES = ("simple", "multiple", "parallel", "irrelevance")

Column = tuple[str, Callable[[dict], str]]


def _accuracy(domain: str, group: str) -> Callable[[dict], str]:
    return lambda row: f"{100 * row['tasks'][domain][group]:.1f}"


def _fc_groups(fc: dict) -> list[str]:
    groups = [g for g in fc if not g.startswith("n_") and g != "all"]
    return [g for g in FC_CATEGORIES if g in groups] + sorted(set(groups) - set(FC_CATEGORIES)) + ["all"]


def columns(first: dict) -> list[Column]:
    """The table's metric columns, from one checkpoint's entry."""
    cols: list[Column] = []
    tasks = first.get("tasks", {})
    if "fc" in tasks:
        cols += [(f"FC {g}", _accuracy("fc", g)) for g in _fc_groups(tasks["fc"])]
    cols += [(domain, _accuracy(domain, "all")) for domain in ("math", "code") if domain in tasks]
    if "chat" in first:
        cols.append(("chat PPL", lambda row: f"{row['chat']['perplexity']:.2f}"))
    for lang in first.get("text", {}):
        cols.append((f"{lang} PPL", lambda row, lang=lang: f"{row['text'][lang]['perplexity']:.2f}"))
    for lang in first.get("density", {}):
        cols.append(
            (f"{lang} chars/tok", lambda row, lang=lang: f"{row['density'][lang]['chars_per_token']:.2f}")
        )
    return cols


def n_line(report: dict) -> str:
    """What the numbers were measured on: prompts per FC category and domain, conversations, documents."""
    first, data = report["checkpoints"][0], report["data"]
    parts = []
    tasks = first.get("tasks", {})
    if "fc" in tasks:
        fc = ", ".join(f"{g} {tasks['fc'][f'n_{g}']}" for g in _fc_groups(tasks["fc"]))
        parts.append(f"FC prompts: {fc}")
    parts += [f"{d} prompts: {tasks[d]['n_all']}" for d in ("math", "code") if d in tasks]
    if "chat" in first:
        parts.append(
            f"chat: {data['chat_conversations']} conversations ({first['chat']['tokens']:,} assistant tokens)"
        )
    if data["text_documents"]:
        parts.append("text documents: " + ", ".join(f"{k} {v}" for k, v in data["text_documents"].items()))
    settings = report["settings"]
    return (
        f"n = {'; '.join(parts)}. Accuracy in %, {settings['decoding']} decoding, "
        f"at most {settings['max_new_tokens']} new tokens."
    )


def render_markdown(report: dict) -> str:
    """The table and its n line."""
    cols = columns(report["checkpoints"][0])
    head = ["checkpoint", *(title for title, _ in cols)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(cols)]
    for row in report["checkpoints"]:
        lines.append("| " + " | ".join([row["name"], *(cell(row) for _, cell in cols)]) + " |")
    return "\n".join(lines) + "\n\n" + n_line(report) + "\n"
