"""Embedding training on the HF Trainer: freeze (new rows only) and unfreeze (everything), both resumable.

Freeze stage: only the input embeddings and lm_head train, and within them only the rows of new tokens.
Old rows are held by gradient hooks that zero their gradient rows before it reaches the optimizer, and
the embeddings get no weight decay: AdamW's decoupled decay (p -= lr * wd * p) would shrink rows whose
gradient is zero. With a zero gradient from the first step AdamW's moments stay zero and its update is
exactly zero, so old rows come out bit-identical.
Unfreeze stage: every parameter trains on the same data (embeddings still without weight decay).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from adaptation.config import TrainStageConfig
from adaptation.tokenizer.merge import VOCAB_MAP_NAME
from specstack.errors import SpecstackError

Mode = Literal["freeze", "unfreeze"]


def embedding_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The input embedding matrix and, when untied, the lm_head matrix (each once)."""
    params = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not params[0]:
        params.append(output.weight)
    return params


def frozen_rows(merged_to_base: Sequence[int], rows: int) -> torch.Tensor:
    """A [rows] bool mask, True for tokens the base had (their rows stay fixed)."""
    mask = torch.zeros(rows, dtype=torch.bool)
    old = [i for i, b in enumerate(merged_to_base) if b >= 0]
    mask[old] = True
    return mask


def freeze_rows(model: torch.nn.Module, frozen: torch.Tensor) -> list[torch.utils.hooks.RemovableHandle]:
    """Zero the gradient rows of `frozen` tokens on every embedding matrix; returns the hook handles."""
    keep = (~frozen).to(torch.float32).unsqueeze(1)
    handles = []
    for param in embedding_parameters(model):
        if param.shape[0] != keep.shape[0]:
            raise ValueError(f"the mask has {keep.shape[0]} rows, the embedding {param.shape[0]}")
        handles.append(param.register_hook(lambda grad, keep=keep: grad * keep.to(grad.dtype)))
    return handles


def train_only_embeddings(model: torch.nn.Module) -> None:
    """requires_grad on the embedding matrices only."""
    keep = {id(p) for p in embedding_parameters(model)}
    for param in model.parameters():
        param.requires_grad_(id(param) in keep)


def make_trainer_class():
    """transformers.Trainer with embeddings excluded from weight decay (imported lazily)."""
    from transformers import Trainer

    class EmbeddingTrainer(Trainer):
        """Trainer whose AdamW never decays embedding matrices."""

        def get_decay_parameter_names(self, model: torch.nn.Module) -> list[str]:
            names = super().get_decay_parameter_names(model)
            embedding_ids = {id(p) for p in embedding_parameters(model)}
            excluded = {n for n, p in model.named_parameters() if id(p) in embedding_ids}
            return [n for n in names if n not in excluded]

    return EmbeddingTrainer


def _prepare_run_dir(run_dir: Path, key: str, restart: bool) -> str | None:
    """The checkpoint to resume from, after wiping a run dir left by a different config (or any, on restart)."""
    from transformers.trainer_utils import get_last_checkpoint

    stamp = run_dir / "run_key.txt"
    if run_dir.is_dir() and (restart or not stamp.is_file() or stamp.read_text().strip() != key):
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n")
    return get_last_checkpoint(str(run_dir))


def train_embeddings(
    model_dir: str | Path,
    out_dir: str | Path,
    run_dir: str | Path,
    documents: Sequence[str],
    cfg: TrainStageConfig,
    mode: Mode,
    *,
    seq_len: int,
    bf16: bool,
    seed: int,
    key: str = "",
    callbacks: list | None = None,
    restart: bool = False,
) -> dict:
    """Train `model_dir` (an initialised merged-vocabulary model) in `mode`, resuming from `run_dir`'s last
    checkpoint when it was made with the same `key`; write the result to `out_dir` atomically.
    `callbacks` are extra `transformers.TrainerCallback`s (progress, tests that interrupt a run);
    `restart` discards the run dir's checkpoints and trains from the start.

    Returns a summary: steps, first/last logged loss, trainable parameters, resumed-from checkpoint.
    """
    import os

    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    from adaptation.embeddings.data import PackedBlocks, pack_documents
    from adaptation.tokenizer.merge import read_vocab_map
    from specstack.io import atomic_directory
    from specstack.training import divergence_guard, native_bf16

    model_dir, out_dir, run_dir = Path(model_dir), Path(out_dir), Path(run_dir)
    if not (model_dir / "config.json").is_file():
        raise SpecstackError(f"{model_dir}: no model here (run `specstack adapt embeddings init` first)")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    merged_to_base = read_vocab_map(model_dir)
    separator = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tokens = pack_documents(tokenizer, documents, separator)
    if len(tokens) < seq_len:
        raise SpecstackError(
            f"the training text has {len(tokens)} tokens, fewer than one sequence of {seq_len}"
        )
    dataset = PackedBlocks(tokens, seq_len)
    if mode == "freeze":
        train_only_embeddings(model)
        freeze_rows(model, frozen_rows(merged_to_base, model.get_input_embeddings().weight.shape[0]))
    else:
        for param in model.parameters():
            param.requires_grad_(True)
    args = TrainingArguments(
        output_dir=str(run_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,  # EmbeddingTrainer keeps it off the embedding matrices
        bf16=bf16 and native_bf16("cuda" if torch.cuda.is_available() else "cpu"),
        use_cpu=not torch.cuda.is_available(),
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        logging_steps=cfg.logging_steps,
        logging_nan_inf_filter=False,  # a NaN loss must reach the divergence guard
        report_to=[],
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=os.environ.get("SPECSTACK_NO_PROGRESS") == "1",
    )
    guard = divergence_guard(f"embedding training ({mode})")
    trainer = make_trainer_class()(
        model=model, args=args, train_dataset=dataset, callbacks=[guard, *(callbacks or [])]
    )
    last = _prepare_run_dir(run_dir, key, restart)
    result = trainer.train(resume_from_checkpoint=last)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    with atomic_directory(out_dir) as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        shutil.copy(model_dir / VOCAB_MAP_NAME, tmp / VOCAB_MAP_NAME)
    return {
        "mode": mode,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "training_tokens": len(dataset) * seq_len,
        "resumed_from": Path(last).name if last else None,
    }
