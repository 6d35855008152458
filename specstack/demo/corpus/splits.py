"""Content keys, de-duplication, deterministic train/held-out splits and the raw-text document format."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from adaptation.corpus import DOC_SEPARATOR  # the raw-text format the adaptation reads

T = TypeVar("T")
# DOC_SEPARATOR is three blank lines. Documents themselves hold at most two in a row (PEP 8 spacing in code)
# and never start or end with a newline, so `split_documents` recovers them exactly.

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Lower-case, 'ё' -> 'е', punctuation and whitespace runs -> one space."""
    return _NON_WORD.sub(" ", text.lower().replace("ё", "е")).strip()


def content_key(texts: Iterable[str]) -> str:
    """SHA-256 of the normalised texts: equal keys mean the same content up to case and punctuation."""
    blob = "\x1f".join(normalize(t) for t in texts)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def hash_fraction(key: str) -> float:
    """A key's position in [0, 1), for splitting by hash."""
    return int(key[:12], 16) / 16**12


def take_unique(
    make: Callable[[int], T], key: Callable[[T], str], n: int, seen: set[str], what: str
) -> list[tuple[str, T]]:
    """Call make(0), make(1), ... until `n` items whose keys are new to `seen` (which is updated)."""
    out: list[tuple[str, T]] = []
    index = 0
    limit = 50 * n + 1000
    while len(out) < n:
        if index >= limit:
            raise RuntimeError(f"{what}: only {len(out)} distinct items out of {index} tries (wanted {n})")
        item = make(index)
        index += 1
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append((k, item))
    return out


def split_by_hash(
    keyed: list[tuple[str, T]], n_heldout: int
) -> tuple[list[tuple[str, T]], list[tuple[str, T]]]:
    """(train, heldout): the n_heldout smallest keys are held out; both parts come back in key order."""
    ordered = sorted(keyed, key=lambda kv: kv[0])
    return ordered[n_heldout:], ordered[:n_heldout]


def clean_document(text: str) -> str:
    """A document as stored: trailing spaces cut, at most two blank lines in a row, no outer newlines."""
    text = "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))
    return re.sub(r"\n{4,}", "\n\n\n", text)


def join_documents(docs: Iterable[str]) -> str:
    """Raw-text file contents: documents joined by DOC_SEPARATOR, ending with one newline."""
    body = DOC_SEPARATOR.join(clean_document(d) for d in docs)
    return body + "\n" if body else ""


def split_documents(text: str) -> list[str]:
    """The documents of a raw-text file written by `join_documents`."""
    text = text.rstrip("\n")
    return text.split(DOC_SEPARATOR) if text else []
