"""Causal-LM pretraining of the demo base model on packed raw text: a plain loop, resumable.

Documents are tokenized, joined with `<|endoftext|>` and cut into random windows of `seq_len` tokens.
The window offsets of step s come from a generator seeded with (seed, s), so a resumed run sees exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import torch

from specstack.demo.config import PretrainConfig
from specstack.progress import progress_bar
from specstack.schedule import lr_at
from specstack.training import (
    ensure_finite,
    load_checkpoint,
    make_adamw,
    remove_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_lr,
)


def pack_documents(tokenizer, documents: Iterable[str], separator_id: int) -> torch.Tensor:
    """All documents tokenized and joined by `separator_id` into one 1-D tensor."""
    ids: list[int] = []
    for doc in documents:
        ids.extend(tokenizer.encode(doc, add_special_tokens=False))
        ids.append(separator_id)
    return torch.tensor(ids, dtype=torch.long)


def batch_at(tokens: torch.Tensor, step: int, cfg: PretrainConfig, seed: int) -> torch.Tensor:
    """The [batch, seq_len] windows of step `step`, deterministic in (seed, step)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, len(tokens) - cfg.seq_len, (cfg.batch_size,), generator=gen)
    return torch.stack([tokens[s : s + cfg.seq_len] for s in starts.tolist()])


def pretrain(
    model: torch.nn.Module, tokens: torch.Tensor, cfg: PretrainConfig, run_dir: Path, seed: int
) -> dict:
    """Train `model` in place for cfg.optim.steps; resumes from run_dir's checkpoint. Returns a summary."""
    if len(tokens) <= cfg.seq_len:
        raise ValueError(f"the corpus has {len(tokens)} tokens, fewer than one sequence of {cfg.seq_len}")
    seed_everything(seed)
    optimizer = make_adamw(model.named_parameters(), cfg.optim)
    start, losses = 0, []
    state = load_checkpoint(run_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"])
        start, losses = state["step"], state["losses"]
    model.train()
    t0 = time.time()
    with progress_bar() as bar:
        task = bar.add_task("pretrain base", total=cfg.optim.steps, completed=start, status="")
        for step in range(start, cfg.optim.steps):
            set_lr(optimizer, lr_at(step, cfg.optim))
            batch = batch_at(tokens, step, cfg, seed)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            ensure_finite(losses[-1], step + 1, "pretraining")
            bar.update(task, advance=1, status=f"loss {losses[-1]:.3f}")
            if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.optim.steps:
                save_checkpoint(
                    run_dir,
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "rng": rng_state(),
                        "step": step + 1,
                        "losses": losses,
                    },
                )
    remove_checkpoint(run_dir)
    tail = losses[-20:]
    return {
        "steps": cfg.optim.steps,
        "final_loss": sum(tail) / len(tail),
        "seconds": round(time.time() - t0, 1),
        "tokens_seen": cfg.optim.steps * cfg.batch_size * cfg.seq_len,
    }
