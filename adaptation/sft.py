"""Supervised fine-tuning on chat JSONL with TRL's SFTTrainer: loss on assistant tokens only, resumable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from specstack.configbase import StrictModel
from specstack.errors import SpecstackError


class SFTStageConfig(StrictModel):
    """One SFT run: TRL SFTTrainer over OpenAI-format chat JSONL (tools included)."""

    max_steps: int = Field(300, gt=0, description="Optimizer steps.")
    batch_size: int = Field(8, gt=0, description="Conversations per device batch.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float = Field(5e-4, gt=0, description="Peak learning rate (cosine schedule).")
    warmup_steps: int = Field(20, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_length: int = Field(512, gt=0, description="Tokens per conversation; longer ones are truncated.")
    group_by_length: bool = Field(
        False,
        description="Batch conversations of similar length (transformers' LengthGroupedSampler): far less "
        "padding when lengths vary, e.g. tool schemas next to short chats.",
    )
    bf16: bool = Field(
        True,
        description="bf16 autocast where bf16 is native (GPUs, CPUs with AVX512-BF16/AMX); float32 elsewhere.",
    )
    save_steps: int = Field(100, gt=0, description="Checkpoint every N steps (resume picks the last one).")
    logging_steps: int = Field(10, gt=0, description="Log loss every N steps.")
    seed: int = Field(0, description="Data order and init seed.")


def load_chat_dataset(path: str | Path):
    """An Arrow dataset of Arrow-safe chat rows (see `specstack.chat`) from a JSONL file."""
    from datasets import Dataset

    from specstack.chat import arrow_safe_row
    from specstack.io import read_jsonl

    rows = [arrow_safe_row(row, f"{path}:{i}") for i, row in enumerate(read_jsonl(path), 1)]
    if not rows:
        raise SpecstackError(f"{path}: no conversations")
    return Dataset.from_list(rows)


def run_sft(
    model_dir: str | Path, train_data: str | Path, output_dir: str | Path, cfg: SFTStageConfig
) -> Path:
    """Fine-tune `model_dir` on `train_data`; resumes from the last checkpoint in `output_dir/run`.

    Writes the final model (and tokenizer) to `output_dir/model` atomically and returns that path.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from adaptation.trl_run import common_trainer_args, load_chat_tokenizer, train_and_save

    output_dir = Path(output_dir)
    tokenizer = load_chat_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    args = SFTConfig(
        **common_trainer_args(cfg, output_dir / "run"),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        lr_scheduler_type="cosine",
        weight_decay=cfg.weight_decay,
        max_length=cfg.max_length,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        assistant_only_loss=True,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=load_chat_dataset(train_data), processing_class=tokenizer
    )
    return train_and_save(trainer, tokenizer, output_dir)
