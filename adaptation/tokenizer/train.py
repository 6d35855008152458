"""Train a (Russian) byte-level BPE on exactly the base tokenizer's pipeline, so the two can be merged.

The new tokenizer copies the base's normalizer, pre-tokenizer, post-processor, decoder and BPE options
(e.g. Qwen's `ignore_merges`), starts from the 256 byte tokens, and gets the base's added tokens
(chat and tool tokens, same flags, same order) appended after its vocabulary, as Qwen does.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import AddedToken, Tokenizer, pre_tokenizers
from tokenizers.trainers import BpeTrainer

from adaptation.tokenizer.bpe import BpeParts, bpe_parts, build_tokenizer, require_byte_level_bpe
from specstack.errors import SpecstackError


def append_added_tokens(tokenizer: Tokenizer, added: list[dict]) -> None:
    """Append added tokens (JSON entries of another tokenizer) in order, keeping their flags."""
    for entry in added:
        token = AddedToken(
            entry["content"],
            single_word=entry.get("single_word", False),
            lstrip=entry.get("lstrip", False),
            rstrip=entry.get("rstrip", False),
            normalized=entry.get("normalized", False),
            special=entry.get("special", False),
        )
        if entry.get("special", False):
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])


def train_like(
    base: Tokenizer,
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    source: str = "base tokenizer",
    show_progress: bool = False,
) -> Tokenizer:
    """A byte-level BPE trained on `texts` with `base`'s pipeline; `vocab_size` counts the added tokens too.

    Raises a one-line SpecstackError when `base` is not a byte-level BPE (`source` names it in the message)
    or when `vocab_size` leaves no room beyond the 256 byte tokens and the added tokens.
    """
    require_byte_level_bpe(base, source)
    base_parts = bpe_parts(base)
    added = base_parts.added_tokens
    model_size = vocab_size - len(added)
    if model_size <= 256:
        raise SpecstackError(
            f"vocab_size {vocab_size} leaves no room for merges (256 byte tokens + {len(added)} added tokens)"
        )
    tokenizer = build_tokenizer(
        BpeParts(vocab=[], merges=[], model_options=base_parts.model_options, pipeline=base_parts.pipeline)
    )
    trainer = BpeTrainer(
        vocab_size=model_size,
        min_frequency=min_frequency,
        show_progress=show_progress,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    # The trainer keeps the model's options in practice; rebuilding pins them to the base's regardless.
    trained = bpe_parts(tokenizer)
    trained.model_options = base_parts.model_options
    tokenizer = build_tokenizer(trained)
    append_added_tokens(tokenizer, added)
    return tokenizer
