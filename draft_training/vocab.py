"""The draft vocabulary: the N target tokens most frequent among training targets, and its d2t/t2d maps.

Conventions (SGLang, vLLM and SpecForge read them this way): draft ids are the chosen target ids in
ascending order; `d2t[d]` = target_id - d (so target_id = d + d2t[d], int64); `t2d[t]` is True when target
token t is in the draft vocabulary. When N equals the target vocabulary the map is the identity and the
checkpoint carries neither tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from draft_training.data import TokenizedData


@dataclass(frozen=True)
class DraftVocab:
    """Draft id -> target id, as a sorted array of target ids."""

    target_ids: torch.Tensor  # int64 [N], strictly ascending
    target_vocab_size: int

    @property
    def size(self) -> int:
        return int(self.target_ids.numel())

    @property
    def is_identity(self) -> bool:
        return self.size == self.target_vocab_size

    @property
    def d2t(self) -> torch.Tensor:
        """int64 [N]: target_id = draft_id + d2t[draft_id]."""
        return self.target_ids - torch.arange(self.size, dtype=torch.int64)

    @property
    def t2d(self) -> torch.Tensor:
        """bool [V]: True where the target token has a draft id."""
        mask = torch.zeros(self.target_vocab_size, dtype=torch.bool)
        mask[self.target_ids] = True
        return mask

    @classmethod
    def identity(cls, vocab_size: int) -> DraftVocab:
        return cls(torch.arange(vocab_size, dtype=torch.int64), vocab_size)

    @classmethod
    def from_d2t(cls, d2t: torch.Tensor, target_vocab_size: int) -> DraftVocab:
        """Rebuild from a checkpoint's d2t, the way SGLang does (hot ids = d2t + arange)."""
        ids = d2t.to(torch.int64) + torch.arange(d2t.numel(), dtype=torch.int64)
        return cls(ids, target_vocab_size)


def token_counts(data: TokenizedData, vocab_size: int) -> np.ndarray:
    """How often each target token occurs at loss-masked (assistant) positions."""
    return np.bincount(data.ids[data.masks.astype(bool)], minlength=vocab_size)[:vocab_size]


def build_vocab(counts: np.ndarray, size: int) -> DraftVocab:
    """The `size` most frequent tokens (ties by lower id; unseen tokens fill up by lower id), ascending."""
    vocab_size = len(counts)
    size = min(size, vocab_size)
    if size == vocab_size:
        return DraftVocab.identity(vocab_size)
    order = np.lexsort((np.arange(vocab_size), -counts))  # by count desc, then id asc
    chosen = np.sort(order[:size])
    return DraftVocab(torch.from_numpy(chosen.astype(np.int64)), vocab_size)


def coverage_report(counts: np.ndarray, vocab: DraftVocab) -> dict:
    """Share of assistant tokens in the training data that the draft vocabulary can produce."""
    total = int(counts.sum())
    covered = int(counts[vocab.target_ids.numpy()].sum())
    return {
        "draft_vocab_size": vocab.size,
        "target_vocab_size": vocab.target_vocab_size,
        "identity": vocab.is_identity,
        "loss_tokens": total,
        "distinct_tokens_seen": int((counts > 0).sum()),
        "coverage": covered / total if total else 0.0,
    }
