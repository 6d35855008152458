"""What the SFT, GRPO and DPO stages share around TRL: the tokenizer check, the common trainer
arguments, and a resumable run that writes its final model atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from specstack.errors import SpecstackError


class TrainerStage(Protocol):
    """The fields every stage config (SFT, GRPO, DPO) has."""

    max_steps: int
    lr: float
    warmup_steps: int
    bf16: bool
    save_steps: int
    logging_steps: int
    seed: int


def load_chat_tokenizer(model_dir: str | Path):
    """The tokenizer of `model_dir`; a clear error when it has no chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not tokenizer.chat_template:
        raise SpecstackError(f"{model_dir}: the tokenizer has no chat template")
    return tokenizer


def common_trainer_args(cfg: TrainerStage, run_dir: Path) -> dict[str, Any]:
    """TrainingArguments shared by every stage: schedule, precision, CPU fallback, checkpoints, seeds."""
    import torch

    from specstack.training import native_bf16

    use_cuda = torch.cuda.is_available()
    return {
        "output_dir": str(run_dir),
        "max_steps": cfg.max_steps,
        "learning_rate": cfg.lr,
        "warmup_steps": cfg.warmup_steps,
        "bf16": cfg.bf16 and native_bf16("cuda" if use_cuda else "cpu"),
        "use_cpu": not use_cuda,
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "save_total_limit": 1,
        "logging_steps": cfg.logging_steps,
        "logging_nan_inf_filter": False,  # a NaN loss must reach the divergence guard, not be averaged away
        "report_to": [],
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "dataloader_num_workers": 0,
    }


def train_and_save(trainer, tokenizer, output_dir: Path) -> Path:
    """Train (resuming from the last checkpoint in `output_dir/run`; a NaN/inf loss stops it with a clear
    error), then write `output_dir/model`."""
    from transformers.trainer_utils import get_last_checkpoint

    from specstack.io import atomic_directory
    from specstack.training import divergence_guard

    trainer.add_callback(divergence_guard(type(trainer).__name__))
    run_dir = output_dir / "run"
    last = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    trainer.train(resume_from_checkpoint=last)
    final = output_dir / "model"
    with atomic_directory(final) as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    return final
