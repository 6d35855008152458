"""Resize a causal LM to a merged vocabulary and initialise its embedding rows.

Rows of tokens the base had (same token string) are copied from the base's row (`merged_to_base`); the row
of a new token is the mean of the base rows of the pieces the base tokenizer cuts that token's bytes into,
so a new token starts where the model already represents its text. The same holds for lm_head when it is
not tied to the input embeddings. Rows past the vocabulary (padding to a multiple), and byte tokens the base
lacked (no base pieces), get the mean base row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Tokenizer


def base_pieces(base: Tokenizer, merged: Tokenizer, merged_id: int) -> list[int]:
    """The base ids of the base tokenizer's pieces of merged token `merged_id` (applied to its raw bytes)."""
    token = merged.id_to_token(merged_id)
    return [t.id for t in base.model.tokenize(token)]


def init_rows(
    old: torch.Tensor, rows: int, merged_to_base: Sequence[int], pieces: dict[int, list[int]]
) -> torch.Tensor:
    """A [rows, hidden] matrix: copied rows, means of pieces for new tokens, the mean row for padding."""
    out = old.float().mean(0, keepdim=True).to(old.dtype).repeat(rows, 1)
    mapped = [(i, b) for i, b in enumerate(merged_to_base) if b >= 0]
    if mapped:
        new_ids, old_ids = zip(*mapped, strict=True)
        out[list(new_ids)] = old[list(old_ids)]
    for i, ids in pieces.items():
        if ids:  # a byte the base could not encode at all keeps the mean row
            out[i] = old[ids].float().mean(0).to(old.dtype)
    return out


def init_embeddings(
    model: torch.nn.Module,
    base: Tokenizer,
    merged: Tokenizer,
    merged_to_base: Sequence[int],
    pad_to_multiple_of: int = 1,
) -> dict:
    """Resize `model` (an HF causal LM) in place to the merged vocabulary; returns counts of what was done.

    Also remaps the config's and generation config's bos/eos/pad ids from base ids to merged ids.
    """
    size = merged.get_vocab_size(with_added_tokens=True)
    if len(merged_to_base) != size:
        raise ValueError(f"merged_to_base has {len(merged_to_base)} entries, the tokenizer {size} ids")
    rows = -(-size // pad_to_multiple_of) * pad_to_multiple_of
    pieces = {i: base_pieces(base, merged, i) for i in range(size) if merged_to_base[i] < 0}
    inputs = model.get_input_embeddings().weight.detach().clone()
    output_layer = model.get_output_embeddings()
    tied = (
        output_layer is None
        or output_layer.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    )
    outputs = None if tied else output_layer.weight.detach().clone()
    bias = None if tied or getattr(output_layer, "bias", None) is None else output_layer.bias.detach().clone()
    model.resize_token_embeddings(rows, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(init_rows(inputs, rows, merged_to_base, pieces))
        if outputs is not None:
            model.get_output_embeddings().weight.copy_(init_rows(outputs, rows, merged_to_base, pieces))
        if bias is not None:
            model.get_output_embeddings().bias.copy_(
                init_rows(bias[:, None], rows, merged_to_base, pieces)[:, 0]
            )
    remap_special_ids(model, merged_to_base)
    return {
        "rows": rows,
        "copied": sum(1 for b in merged_to_base if b >= 0),
        "initialised_from_pieces": len(pieces),
        "padding": rows - size,
        "tied": tied,
    }


def remap_special_ids(model: torch.nn.Module, merged_to_base: Sequence[int]) -> None:
    """Rewrite bos/eos/pad/decoder-start ids in config and generation config from base to merged ids."""
    to_new = {b: i for i, b in enumerate(merged_to_base) if b >= 0}

    def remap(value):
        if isinstance(value, list):
            return [to_new.get(v, v) for v in value]
        return to_new.get(value, value) if isinstance(value, int) else value

    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is None:
            continue
        for name in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
            if getattr(cfg, name, None) is not None:
                setattr(cfg, name, remap(getattr(cfg, name)))
