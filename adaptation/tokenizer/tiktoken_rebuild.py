"""Qwen's published byte-level BPE ranks (`qwen.tiktoken`) rebuilt as a `tokenizers.Tokenizer`.

The ranks file is what Qwen2/2.5/3 share (151,643 tokens). transformers' `TikTokenConverter` turns ranks into
vocab + merges; with Qwen2's split regex, NFC (as in Qwen2's tokenizer.json) and Qwen's chat tokens after the
vocabulary, the result is the Qwen pipeline this package trains and merges with. `compare_with_tiktoken`
proves the rebuild gives tiktoken's ids on given texts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, normalizers

from adaptation.tokenizer.qwen_style import QWEN2_SPLIT_PATTERN, add_qwen_tokens


def from_tiktoken(path: str | Path, pattern: str = QWEN2_SPLIT_PATTERN, nfc: bool = True) -> Tokenizer:
    """A byte-level BPE from tiktoken ranks with `pattern` as the split regex and Qwen's chat tokens appended."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tokenizer = TikTokenConverter(vocab_file=str(path), pattern=pattern).converted()
    if nfc:
        tokenizer.normalizer = normalizers.NFC()
    add_qwen_tokens(tokenizer)
    return tokenizer


def tiktoken_encoding(path: str | Path, pattern: str = QWEN2_SPLIT_PATTERN):
    """The `tiktoken.Encoding` of the same ranks and regex (no special tokens)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    return tiktoken.Encoding(
        name=Path(path).stem, pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens={}
    )


def compare_with_tiktoken(tokenizer: Tokenizer, encoding, texts: Iterable[str]) -> dict:
    """Encode every text with both; texts are NFC-normalised first (tiktoken does not normalise).

    Returns {"texts", "tokens", "mismatches", "first_mismatch"}: mismatches must be 0 for the rebuild to
    count as Qwen's tokenizer.
    """
    import unicodedata

    texts = [unicodedata.normalize("NFC", t) for t in texts]
    ours = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    mismatches, tokens, first = 0, 0, None
    for text, ids in zip(texts, ours, strict=True):
        theirs = encoding.encode_ordinary(text)
        tokens += len(theirs)
        if ids != theirs:
            mismatches += 1
            first = first if first is not None else text[:80]
    return {"texts": len(texts), "tokens": tokens, "mismatches": mismatches, "first_mismatch": first}
