"""Draft vocabulary: most frequent assistant tokens; d2t/t2d read back exactly as SGLang and vLLM read them."""

from __future__ import annotations

import numpy as np
import torch

from draft_training.data import TokenizedData
from draft_training.vocab import DraftVocab, build_vocab, coverage_report, token_counts


def test_counts_only_loss_masked_tokens():
    data = TokenizedData(
        ids=np.array([5, 5, 7, 9, 9, 9], dtype=np.int32),
        masks=np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8),
        offsets=np.array([0, 3, 6]),
    )
    counts = token_counts(data, 12)
    assert counts[5] == 2 and counts[7] == 1 and counts[9] == 0 and len(counts) == 12


def test_top_n_by_frequency_ties_by_lower_id_then_sorted():
    counts = np.array([0, 9, 3, 3, 0, 7, 1, 3])
    vocab = build_vocab(counts, 4)
    assert vocab.target_ids.tolist() == [1, 2, 3, 5]  # 9, 7 and two of the three 3s (ids 2 and 3)
    report = coverage_report(counts, vocab)
    assert report["coverage"] == (9 + 3 + 3 + 7) / counts.sum()


def test_round_trip_as_sglang_and_vllm_read_it():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 100, size=300)
    vocab = build_vocab(counts, 64)
    d2t, t2d = vocab.d2t, vocab.t2d
    assert d2t.dtype == torch.int64 and t2d.dtype == torch.bool
    assert t2d.shape == (300,) and int(t2d.sum()) == 64
    # SGLang: hot_token_id = d2t + arange(len(d2t))
    hot = d2t + torch.arange(d2t.shape[0])
    assert torch.equal(hot, vocab.target_ids)
    # vLLM: targets = arange(draft_vocab) + draft_id_to_target_id; logits scattered into the target vocab
    draft_logits = torch.randn(2, 64)
    full = torch.full((2, 300), float("-inf"))
    full[:, torch.arange(64) + d2t] = draft_logits
    assert torch.equal(full.argmax(-1), hot[draft_logits.argmax(-1)])
    # t2d marks exactly the drafted target ids, and the round trip rebuilds the same vocabulary
    assert torch.equal(torch.nonzero(t2d).flatten(), hot)
    assert torch.equal(DraftVocab.from_d2t(d2t, 300).target_ids, vocab.target_ids)


def test_fewer_seen_tokens_than_n_fill_up_with_low_ids():
    counts = np.zeros(50, dtype=np.int64)
    counts[[40, 45]] = [3, 1]
    vocab = build_vocab(counts, 5)
    assert vocab.target_ids.tolist() == [0, 1, 2, 40, 45]


def test_full_size_is_the_identity():
    vocab = build_vocab(np.ones(30), 32000)  # capped at the target vocabulary
    assert vocab.is_identity and vocab.size == 30
    assert torch.equal(vocab.d2t, torch.zeros(30, dtype=torch.int64)) and vocab.t2d.all()
