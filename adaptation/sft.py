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
    bf16: bool = Field(True, description="bf16 autocast (CPUs with AVX512-BF16 and GPUs).")
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
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    from specstack.io import atomic_directory

    output_dir = Path(output_dir)
    run_dir = output_dir / "run"
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not tokenizer.chat_template:
        raise SpecstackError(f"{model_dir}: the tokenizer has no chat template")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    args = SFTConfig(
        output_dir=str(run_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        max_length=cfg.max_length,
        assistant_only_loss=True,
        bf16=cfg.bf16,
        use_cpu=not torch.cuda.is_available(),
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        logging_steps=cfg.logging_steps,
        report_to=[],
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=load_chat_dataset(train_data), processing_class=tokenizer
    )
    last = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    trainer.train(resume_from_checkpoint=last)
    final = output_dir / "model"
    with atomic_directory(final) as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    return final
