"""DPO on built preference pairs (`adaptation.preferences`) with TRL's DPOTrainer; resumable.

Input: JSONL `{"prompt": messages, "chosen": messages, "rejected": messages}` (extra keys ignored). The
model is passed to TRL as its directory, so the frozen reference model is loaded from the same place.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from specstack.configbase import StrictModel
from specstack.errors import SpecstackError


class DPOStageConfig(StrictModel):
    """One DPO run."""

    beta: float = Field(
        0.1, gt=0, description="DPO temperature: how far the policy may move from the reference."
    )
    loss_type: str = Field("sigmoid", description="TRL DPO loss (sigmoid = the DPO paper's).")
    max_steps: int = Field(200, gt=0, description="Optimizer steps.")
    batch_size: int = Field(4, gt=0, description="Pairs per device batch.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float = Field(5e-7, gt=0, description="Peak learning rate (cosine schedule).")
    warmup_steps: int = Field(10, ge=0, description="Linear warmup steps.")
    max_length: int = Field(1024, gt=0, description="Tokens of prompt + answer; longer pairs are truncated.")
    bf16: bool = Field(
        True,
        description="bf16 autocast where bf16 is native (GPUs, CPUs with AVX512-BF16/AMX); float32 elsewhere.",
    )
    save_steps: int = Field(100, gt=0, description="Checkpoint every N steps (resume picks the last one).")
    logging_steps: int = Field(10, gt=0, description="Log every N steps.")
    seed: int = Field(0, description="Data order seed.")


def _message(m: dict) -> dict:
    return {"role": m["role"], "content": m.get("content") or ""}


def load_preference_dataset(path: str | Path):
    """An Arrow dataset of prompt/chosen/rejected message lists (role + content) from JSONL."""
    from datasets import Dataset

    from specstack.io import read_jsonl

    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        try:
            rows.append({k: [_message(m) for m in row[k]] for k in ("prompt", "chosen", "rejected")})
        except (KeyError, TypeError):
            raise SpecstackError(
                f"{path}:{i}: expected prompt/chosen/rejected as lists of messages"
            ) from None
    if not rows:
        raise SpecstackError(f"{path}: no preference pairs")
    return Dataset.from_list(rows)


def run_dpo(
    model_dir: str | Path, pairs_jsonl: str | Path, output_dir: str | Path, cfg: DPOStageConfig
) -> Path:
    """DPO from `model_dir` on `pairs_jsonl`; resumes from `output_dir/run`; writes `output_dir/model`."""
    from trl import DPOConfig, DPOTrainer

    from adaptation.trl_run import common_trainer_args, load_chat_tokenizer, train_and_save

    output_dir = Path(output_dir)
    tokenizer = load_chat_tokenizer(model_dir)
    args = DPOConfig(
        **common_trainer_args(cfg, output_dir / "run"),
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        lr_scheduler_type="cosine",
        max_length=cfg.max_length,
    )
    trainer = DPOTrainer(
        model=str(model_dir),
        args=args,
        train_dataset=load_preference_dataset(pairs_jsonl),
        processing_class=tokenizer,
    )
    return train_and_save(trainer, tokenizer, output_dir)
