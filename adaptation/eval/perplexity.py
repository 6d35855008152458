"""Held-out perplexity of a causal LM: on raw text, and on the assistant turns of chat data.

Both also report the loss per character, the number that stays comparable across tokenizers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import torch

from specstack.chat import arrow_safe_row


def _score(model, ids: list[int], mask: list[int]) -> tuple[float, int]:
    """Summed next-token NLL over the positions whose *target* token has mask 1, and their count."""
    input_ids = torch.tensor([ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits[0, :-1].float()
    targets = input_ids[0, 1:]
    keep = torch.tensor(mask[1:], dtype=torch.bool, device=model.device)
    nll = torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum")
    return nll.item(), int(keep.sum())


def _summary(nll: float, tokens: int, chars: int) -> dict:
    return {
        "tokens": tokens,
        "loss_per_token": nll / max(tokens, 1),
        "perplexity": math.exp(nll / max(tokens, 1)),
        "loss_per_char": nll / max(chars, 1),
    }


def text_perplexity(model, tokenizer, documents: Iterable[str], max_length: int = 512) -> dict:
    """Perplexity over raw documents (each truncated to max_length tokens)."""
    nll, tokens, chars = 0.0, 0, 0
    model.eval()
    for doc in documents:
        ids = tokenizer.encode(doc, add_special_tokens=False)[:max_length]
        if len(ids) < 2:
            continue
        s, n = _score(model, ids, [1] * len(ids))
        nll, tokens, chars = nll + s, tokens + n, chars + len(tokenizer.decode(ids[1:]))
    return _summary(nll, tokens, chars)


def chat_perplexity(model, tokenizer, rows: Iterable[dict], max_length: int = 512) -> dict:
    """Perplexity over the assistant tokens of chat rows (the tokens SFT trains on)."""
    nll, tokens, chars = 0.0, 0, 0
    model.eval()
    for row in rows:
        safe = arrow_safe_row(row)
        out = tokenizer.apply_chat_template(
            safe["messages"],
            tools=None if safe["tools"] is None else json.loads(safe["tools"]),
            return_assistant_tokens_mask=True,
            return_dict=True,
        )
        ids, mask = out["input_ids"][:max_length], out["assistant_masks"][:max_length]
        if sum(mask[1:]) == 0:
            continue
        s, n = _score(model, ids, mask)
        scored = [t for t, m in zip(ids[1:], mask[1:], strict=True) if m]
        nll, tokens, chars = nll + s, tokens + n, chars + len(tokenizer.decode(scored))
    return _summary(nll, tokens, chars)
