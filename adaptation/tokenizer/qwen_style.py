"""The Qwen2/2.5/3 tokenizer pipeline (NFC, Qwen's split regex, byte-level BPE) and its special tokens.

Every tokenizer this project trains uses exactly this normalizer, pre-tokenizer and decoder, so vocabularies
trained on different corpora can be merged by appending tokens and merges.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer

# Qwen2's pre-tokenizer regex, as in transformers' Qwen2Converter and Qwen's published tokenizer.json.
QWEN2_SPLIT_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Control tokens (special: stripped when decoding with skip_special_tokens).
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
# Tool-call markers are single tokens but NOT special, as in Qwen2.5: they survive decoding, so the
# engines' tool parsers (vLLM `hermes`, SGLang `qwen25`) see them in the text.
TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
ADDED_TOKENS = SPECIAL_TOKENS + TOOL_TOKENS


def apply_qwen_pipeline(tokenizer: Tokenizer) -> Tokenizer:
    """Set Qwen2's normalizer, pre-tokenizer, decoder and post-processor on `tokenizer` (in place)."""
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def empty_qwen_style_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE with the Qwen pipeline."""
    model = BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    return apply_qwen_pipeline(Tokenizer(model))


def train_qwen_style_bpe(
    texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2, show_progress: bool = False
) -> Tokenizer:
    """Train a byte-level BPE with the Qwen pipeline; the added tokens are appended after the BPE vocab.

    `vocab_size` counts everything, added tokens included, so the result has exactly that many ids
    (unless the corpus is too small to learn that many merges).
    """
    tokenizer = empty_qwen_style_tokenizer()
    trainer = BpeTrainer(
        vocab_size=vocab_size - len(ADDED_TOKENS),
        min_frequency=min_frequency,
        show_progress=show_progress,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    add_qwen_tokens(tokenizer)
    return tokenizer


def add_qwen_tokens(tokenizer: Tokenizer) -> None:
    """Append the chat control tokens (special) and tool-call markers (not special), Qwen's way."""
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])


def iter_documents(paths: Iterable[Path], separator: str) -> Iterator[str]:
    """Yield the documents of text files split on `separator` (skipping empty ones)."""
    for path in paths:
        for doc in Path(path).read_text(encoding="utf-8").split(separator):
            if doc.strip():
                yield doc
