"""The reference's tokenizer table: token classes and chars/token per domain, as data and as Markdown.

Rows are tokenizers (base, Russian-only, merged, ...), columns the vocabulary's Cyrillic / Latin / other
token counts and the chars/token on each domain's held-out text, with the ratio to the baseline row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tokenizers import Tokenizer

from adaptation.tokenizer.density import chars_per_token, vocab_classes

DOMAIN_TITLES = {"ru": "Russian", "en": "English", "code": "code"}


def density_report(
    tokenizers: Mapping[str, Tokenizer], domains: Mapping[str, Sequence[str]], baseline: str = "base"
) -> dict:
    """{"baseline", "domains", "rows": [{"name", "ids", "classes", "chars_per_token", "vs_baseline"}]}."""
    rows = []
    for name, tokenizer in tokenizers.items():
        density = {d: chars_per_token(tokenizer, docs) for d, docs in domains.items()}
        rows.append(
            {
                "name": name,
                "ids": tokenizer.get_vocab_size(with_added_tokens=True),
                "classes": vocab_classes(tokenizer),
                "chars_per_token": {d: v["chars_per_token"] for d, v in density.items()},
                "tokens": {d: v["tokens"] for d, v in density.items()},
                "chars": {d: v["chars"] for d, v in density.items()},
            }
        )
    base = next((r for r in rows if r["name"] == baseline), None)
    for row in rows:
        row["vs_baseline"] = (
            {d: row["chars_per_token"][d] / base["chars_per_token"][d] for d in domains} if base else {}
        )
    return {"baseline": baseline, "domains": list(domains), "rows": rows}


def render_markdown(report: dict) -> str:
    """The report as a Markdown table (chars/token, and × the baseline in brackets)."""
    domains = report["domains"]
    head = ["tokenizer", "ids", "with Cyrillic", "with Latin", "other"]
    head += [f"{DOMAIN_TITLES.get(d, d)} chars/token" for d in domains]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        cells = [row["name"], f"{row['ids']:,}"] + [
            f"{row['classes'][c]:,}" for c in ("cyrillic", "latin", "other")
        ]
        for d in domains:
            cell = f"{row['chars_per_token'][d]:.2f}"
            if row["vs_baseline"] and row["name"] != report["baseline"]:
                cell += f" ({row['vs_baseline'][d]:.3f}×)"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
