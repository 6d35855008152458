"""Training data for the embedding stages: documents tokenized, joined by a separator, cut into blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pack_documents(tokenizer, documents: Sequence[str], separator_id: int, batch: int = 256) -> torch.Tensor:
    """All documents encoded (no special tokens) and joined by `separator_id` into one 1-D tensor."""
    ids: list[int] = []
    for start in range(0, len(documents), batch):
        chunk = list(documents[start : start + batch])
        for row in tokenizer(chunk, add_special_tokens=False)["input_ids"]:
            ids.extend(row)
            ids.append(separator_id)
    return torch.tensor(ids, dtype=torch.long)


class PackedBlocks(torch.utils.data.Dataset):
    """Consecutive non-overlapping blocks of `seq_len` tokens; labels are the inputs (the model shifts)."""

    def __init__(self, tokens: torch.Tensor, seq_len: int) -> None:
        count = len(tokens) // seq_len
        if count == 0:
            raise ValueError(f"{len(tokens)} tokens make no block of {seq_len}")
        self.blocks = tokens[: count * seq_len].view(count, seq_len)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        block = self.blocks[index]
        return {"input_ids": block, "labels": block.clone()}
