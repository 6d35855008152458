"""The evaluation data, read and checked up front: RL prompts, chat conversations, held-out text per language.

Each reader takes `limit` items (None: all) and turns a missing file or an empty selection into a one-line
error, so a long evaluation never starts on data it cannot use. Conversations and documents are the first
`limit`; RL prompts are taken round-robin over their (domain, category) groups, so a small limit still
measures every task (the first rows of a file may all be one kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from adaptation.corpus import read_documents
from adaptation.rewards import DOMAINS
from specstack.chat import conversation_messages
from specstack.errors import SpecstackError
from specstack.io import read_jsonl

TEXT_SUFFIX = "_heldout.txt"
LANGUAGE_ORDER = ("ru", "en", "code")


@dataclass
class EvalData:
    """What every checkpoint is measured on; a part left empty is skipped (no columns for it)."""

    rl: list[dict] = field(default_factory=list)
    chat: list[dict] = field(default_factory=list)
    text: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict:
        """How many items of each part are used (the `n` of the table)."""
        return {
            "rl_prompts": len(self.rl),
            "chat_conversations": len(self.chat),
            "text_documents": {lang: len(docs) for lang, docs in self.text.items()},
        }


def _first_rows(path: Path, limit: int | None, what: str) -> list[dict]:
    rows = list(islice(read_jsonl(path), limit))
    if not rows:
        raise SpecstackError(f"{path}: no {what} in the file")
    return rows


def balanced_subset(rows: list[dict], limit: int | None) -> list[dict]:
    """Up to `limit` rows taken round-robin over their (domain, category) groups, each group in file order;
    the result keeps file order. None: all rows."""
    if limit is None or limit >= len(rows):
        return rows
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row["domain"], row.get("category") or ""), []).append(i)
    queues = [iter(indices) for indices in groups.values()]
    picked: list[int] = []
    while len(picked) < limit:
        for queue in queues:
            if len(picked) < limit and (i := next(queue, None)) is not None:
                picked.append(i)
    return [rows[i] for i in sorted(picked)]


def read_rl_rows(path: Path, limit: int | None = None) -> list[dict]:
    """RL prompts (`prompt` messages, `domain` fc/math/code and its golden column): `limit` of them,
    balanced over (domain, category)."""
    rows = _first_rows(path, None, "RL prompts")
    for i, row in enumerate(rows, 1):
        if not isinstance(row.get("prompt"), list) or row.get("domain") not in DOMAINS:
            raise SpecstackError(
                f"{path}: row {i}: expected a 'prompt' message list and a 'domain' ({', '.join(DOMAINS)})"
            )
    return balanced_subset(rows, limit)


def read_chat_rows(path: Path, limit: int | None = None) -> list[dict]:
    """Chat conversations with at least one assistant turn (OpenAI or ShareGPT), the first `limit`."""
    rows = _first_rows(path, limit, "conversations")
    for i, row in enumerate(rows, 1):
        conversation_messages(row, f"{path}: row {i}")
    return rows


def _language_key(path: Path) -> tuple[int, str]:
    lang = path.name.removesuffix(TEXT_SUFFIX)
    return (LANGUAGE_ORDER.index(lang) if lang in LANGUAGE_ORDER else len(LANGUAGE_ORDER), lang)


def read_text_dir(path: Path, limit: int | None = None) -> dict[str, list[str]]:
    """`{lang: documents}` from the `<lang>_heldout.txt` files of a directory (ru, en, code first)."""
    if not path.is_dir():
        raise SpecstackError(f"{path}: no such directory")
    files = sorted(path.glob(f"*{TEXT_SUFFIX}"), key=_language_key)
    if not files:
        raise SpecstackError(f"{path}: no *{TEXT_SUFFIX} files")
    out = {}
    for file in files:
        docs = read_documents(file)[:limit]
        if not docs:
            raise SpecstackError(f"{file}: no documents in the file")
        out[file.name.removesuffix(TEXT_SUFFIX)] = docs
    return out


def read_eval_data(
    rl_data: Path | None,
    chat_data: Path | None,
    text_dir: Path | None,
    max_prompts: int | None = None,
    max_conversations: int | None = None,
    max_documents: int | None = None,
) -> EvalData:
    """All given parts, each checked; at least one part is required."""
    if rl_data is None and chat_data is None and text_dir is None:
        raise SpecstackError("nothing to evaluate: give --rl-data, --chat-data and/or --text-dir")
    return EvalData(
        rl=read_rl_rows(rl_data, max_prompts) if rl_data else [],
        chat=read_chat_rows(chat_data, max_conversations) if chat_data else [],
        text=read_text_dir(text_dir, max_documents) if text_dir else {},
    )
