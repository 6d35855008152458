"""Byte-level BPE tokenizers as plain data: vocab, merges, added tokens and the text pipeline.

`tokenizers.Tokenizer` has no API to drop or append vocabulary entries, so pruning and merging go through
its JSON form: `bpe_parts` takes a tokenizer apart, `build_tokenizer` puts one together with new ids.
The pipeline (normalizer, pre-tokenizer, post-processor, decoder) and the BPE model's options are carried
over verbatim, which is what makes two vocabularies built on the same pipeline mergeable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, pre_tokenizers

from specstack.errors import SpecstackError

PIPELINE_KEYS = ("normalizer", "pre_tokenizer", "post_processor", "decoder")


@dataclass
class BpeParts:
    """A BPE tokenizer as data. `vocab` lists the model's tokens in id order (ids are positions)."""

    vocab: list[str]
    merges: list[tuple[str, str]]
    added_tokens: list[dict[str, Any]] = field(default_factory=list)
    model_options: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)


@cache
def byte_alphabet() -> tuple[str, ...]:
    """The 256 one-character strings byte-level BPE uses for the 256 byte values, in byte order."""
    return tuple(sorted(pre_tokenizers.ByteLevel.alphabet(), key=_byte_value))


@cache
def _byte_decoder() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


def _byte_value(char: str) -> int:
    return _byte_decoder()[char]


def token_bytes(token: str) -> bytes:
    """The raw bytes a byte-level token stands for."""
    decoder = _byte_decoder()
    return bytes(decoder[c] for c in token)


def token_text(token: str) -> str:
    """A byte-level token's text (bytes of an incomplete UTF-8 sequence become U+FFFD)."""
    return token_bytes(token).decode("utf-8", errors="replace")


def _find(component: dict[str, Any] | None, type_name: str) -> bool:
    """Whether a pipeline component (possibly a Sequence of them) contains one of type `type_name`."""
    if not component:
        return False
    if component.get("type") == type_name:
        return True
    children = component.get("pretokenizers") or component.get("decoders") or []
    return any(_find(child, type_name) for child in children)


def byte_level_problem(tokenizer: Tokenizer) -> str | None:
    """Why `tokenizer` is not a byte-level BPE this package can extend, or None when it is one."""
    data = json.loads(tokenizer.to_str())
    model = data.get("model", {})
    if model.get("type") != "BPE":
        return f"its model is {model.get('type', 'unknown')}, not BPE"
    if not _find(data.get("pre_tokenizer"), "ByteLevel"):
        return "its pre-tokenizer has no ByteLevel step"
    if not _find(data.get("decoder"), "ByteLevel"):
        return "its decoder is not ByteLevel"
    # Byte tokens may be missing (SmolLM2 lacks 21 that its training text never held, 0xC0 and 0xF5-0xFF
    # among them): a tokenizer trained with `train_like` has all 256, so a merge gains the missing ones.
    return None


def require_byte_level_bpe(tokenizer: Tokenizer, source: str) -> None:
    """Raise a one-line SpecstackError unless `tokenizer` is a byte-level BPE."""
    problem = byte_level_problem(tokenizer)
    if problem:
        raise SpecstackError(f"{source}: not a byte-level BPE tokenizer ({problem})")


def _merge_pair(merge: str | list[str]) -> tuple[str, str]:
    if isinstance(merge, str):
        left, right = merge.split(" ", 1)
        return left, right
    return merge[0], merge[1]


def bpe_parts(tokenizer: Tokenizer) -> BpeParts:
    """Take a BPE tokenizer apart; added tokens keep their JSON entries (content, special, strip flags)."""
    data = json.loads(tokenizer.to_str())
    model = data["model"]
    if model.get("type") != "BPE":
        raise SpecstackError(f"not a BPE tokenizer (model {model.get('type')})")
    added = sorted(data.get("added_tokens") or [], key=lambda t: t["id"])
    added_contents = {t["content"] for t in added}
    # An added token that is also a vocabulary entry (GPT-2's <|endoftext|>) is kept as an added token only.
    vocab = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1]) if t not in added_contents]
    merges = [_merge_pair(m) for m in model.get("merges", [])]
    if added_contents & set(model["vocab"]):
        merges = [m for m in merges if not ({m[0], m[1], m[0] + m[1]} & added_contents)]
    options = {k: v for k, v in model.items() if k not in ("vocab", "merges")}
    return BpeParts(
        vocab=vocab,
        merges=merges,
        added_tokens=[{k: v for k, v in t.items() if k != "id"} for t in added],
        model_options=options,
        pipeline={k: data.get(k) for k in PIPELINE_KEYS},
    )


def build_tokenizer(parts: BpeParts) -> Tokenizer:
    """A tokenizer from parts: vocab ids 0..N-1 in list order, then the added tokens, in order."""
    vocab = {token: i for i, token in enumerate(parts.vocab)}
    if len(vocab) != len(parts.vocab):
        raise ValueError("duplicate tokens in the vocabulary")
    added = [{"id": len(vocab) + i, **t} for i, t in enumerate(parts.added_tokens)]
    data = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        **{k: parts.pipeline.get(k) for k in PIPELINE_KEYS},
        "model": {
            **parts.model_options,
            "type": "BPE",
            "vocab": vocab,
            "merges": [list(m) for m in parts.merges],
        },
    }
    return Tokenizer.from_str(json.dumps(data, ensure_ascii=False))


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A tokenizer from an HF directory, a tokenizer.json, or tiktoken BPE ranks (`*.tiktoken`, Qwen's regex).

    A missing path or a directory without tokenizer.json is a one-line error.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise SpecstackError(f"{path}: no such tokenizer file (a fast tokenizer's tokenizer.json is needed)")
    if path.suffix == ".tiktoken":
        from adaptation.tokenizer.tiktoken_rebuild import from_tiktoken

        return from_tiktoken(path)
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises plain Exception on bad JSON
        raise SpecstackError(f"{path}: not a tokenizers JSON file ({str(e).splitlines()[0]})") from None
