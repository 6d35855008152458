"""Token density: what a vocabulary holds (tokens with Cyrillic / Latin / other text) and chars per token.

Classes are exclusive and judged on the token's text (its bytes decoded as UTF-8): Cyrillic when it holds a
Cyrillic letter, else Latin when it holds a Latin letter, else other (digits, punctuation, whitespace,
pieces of multi-byte characters, other scripts). Added tokens (chat/tool tokens) count as other.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from tokenizers import Tokenizer

from adaptation.tokenizer.bpe import token_text
from adaptation.tokenizer.prune import CYRILLIC, LATIN


def token_class(text: str) -> str:
    """The class of a token's text: "cyrillic", "latin" or "other"."""
    if CYRILLIC.search(text):
        return "cyrillic"
    if LATIN.search(text):
        return "latin"
    return "other"


def vocab_classes(tokenizer: Tokenizer) -> dict[str, int]:
    """How many of the tokenizer's ids fall in each class."""
    out = {"cyrillic": 0, "latin": 0, "other": 0}
    added = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
    for token in tokenizer.get_vocab(with_added_tokens=True):
        out["other" if token in added else token_class(token_text(token))] += 1
    return out


def chars_per_token(tokenizer: Tokenizer, documents: Sequence[str], batch: int = 256) -> dict:
    """Characters (after NFC) per token over `documents`, encoded without special tokens."""
    chars = tokens = 0
    for start in range(0, len(documents), batch):
        chunk = list(documents[start : start + batch])
        chars += sum(len(unicodedata.normalize("NFC", d)) for d in chunk)
        tokens += sum(len(e.ids) for e in tokenizer.encode_batch(chunk, add_special_tokens=False))
    return {"chars": chars, "tokens": tokens, "chars_per_token": chars / max(tokens, 1)}
