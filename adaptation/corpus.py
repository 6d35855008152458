"""Raw-text corpora for adaptation: files of documents separated by the demo corpus' DOC_SEPARATOR.

A missing file or a corpus without a single non-blank document is a one-line `SpecstackError`, so every
stage that reads text (tokenizer training, pruning, density, embedding training) fails the same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from specstack.errors import SpecstackError

DOC_SEPARATOR = "\n\n\n\n"
"""The document separator of raw-text corpus files (the demo corpus writes them with it)."""


def read_documents(path: str | Path) -> list[str]:
    """The non-blank documents of one raw-text file; a missing or unreadable file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SpecstackError(f"{path}: no such corpus file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpecstackError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return [doc for doc in text.split(DOC_SEPARATOR) if doc.strip()]


def read_corpus(paths: Sequence[str | Path], what: str = "corpus") -> list[str]:
    """The documents of several files in order; no files or no documents at all is a one-line error."""
    if not paths:
        raise SpecstackError(f"{what}: no corpus files given")
    docs = [doc for path in paths for doc in read_documents(path)]
    if not docs:
        raise SpecstackError(f"{what}: the corpus is empty ({', '.join(str(p) for p in paths)})")
    return docs


def mix_documents(main: list[str], extra: list[str], extra_share: float, seed: int) -> list[str]:
    """`main` plus documents of `extra` (in a seeded order) up to `extra_share` of all characters, shuffled."""
    rng = random.Random(seed)
    pool = list(extra)
    rng.shuffle(pool)
    budget = (
        extra_share / max(1e-9, 1 - extra_share) * sum(map(len, main)) if extra_share < 1 else float("inf")
    )
    picked, size = [], 0
    for doc in pool:
        if size >= budget:
            break
        picked.append(doc)
        size += len(doc)
    mixed = list(main) + picked
    rng.shuffle(mixed)
    return mixed
