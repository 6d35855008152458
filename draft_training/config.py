"""The `draft:` config section: what to train the head on, its shape, the training loop and the evaluation."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, field_validator, model_validator

from specstack.configbase import StrictModel
from specstack.schedule import OptimConfig


class DraftEvalConfig(StrictModel):
    """Offline acceptance-length evaluation on held-out prompts (greedy chain drafting, no server)."""

    max_k: int = Field(
        7, ge=1, le=16, description="Longest draft chain evaluated; τ is reported for k=1..max_k."
    )
    num_prompts: int = Field(24, gt=0, description="Held-out conversations used as prompts.")
    max_new_tokens: int = Field(64, gt=0, description="Tokens the target generates greedily per prompt.")


class SpecForgeConfig(StrictModel):
    """`backend: specforge`: settings for the SpecForge run written for a GPU node."""

    repo_dir: str = Field(
        "SpecForge",
        description="A SpecForge 0.2.0 checkout on the GPU node (its scripts/prepare_hidden_states.py is used).",
    )
    nproc_per_node: int = Field(1, gt=0, description="GPUs per node for feature capture and training.")
    num_epochs: int = Field(1, gt=0, description="Epochs over the training data.")
    torch_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="Dtype SpecForge trains and captures in."
    )
    attention_backend: Literal["sdpa", "flex_attention", "fa"] = Field(
        "flex_attention", description="SpecForge's attention kernel for the TTT unroll."
    )
    capture_batch_size: int = Field(32, gt=0, description="Batch size of the offline hidden-state capture.")


class DraftConfig(StrictModel):
    """Train an EAGLE-3 draft head for a target model on SFT chat data and export it for vLLM/SGLang."""

    target_model: str = Field(description="Target model: a Hugging Face directory with a chat template.")
    train_data: str = Field(description="SFT JSONL (OpenAI `messages` + optional `tools`, or ShareGPT).")
    eval_data: str | None = Field(None, description="Held-out SFT JSONL whose prompts `draft eval` uses.")
    output_dir: str = Field(
        description="Where the exported draft checkpoint (the serving artifact) is written."
    )
    run_dir: str = Field(description="Checkpoints, logs, preprocessing cache and evaluation results.")

    max_length: int = Field(2048, ge=16, description="Conversations are truncated to this many tokens.")
    max_conversations: int | None = Field(
        None, gt=0, description="Train on the first N usable conversations of train_data (None: all)."
    )
    draft_vocab_size: int = Field(
        32000,
        gt=0,
        description="Draft vocabulary: the N most frequent target tokens (capped at the target's).",
    )
    aux_layer_ids: list[int] | None = Field(
        None,
        description="Target layers whose INPUT states feed the head (hidden_states[i]); None = the engines' "
        "default (2, L//2, L-3), which is then not written into the checkpoint.",
    )
    head_type: Literal["eagle3", "eagle2"] = Field(
        "eagle3", description="eagle3, or the eagle2 ablation (last-layer features only; offline eval only)."
    )
    intermediate_size: int | None = Field(
        None, gt=0, description="MLP width of the head; None = the target's."
    )

    ttt_steps: int = Field(7, ge=1, le=16, description="Training-time-test unroll length.")
    loss_decay: float = Field(0.8, gt=0, le=1, description="Weight of unroll step j is loss_decay**(j-1).")
    batch_size: int = Field(8, gt=0, description="Conversations per micro-batch.")
    optim: OptimConfig = Field(
        default_factory=lambda: OptimConfig(steps=400, lr=1e-3, warmup_steps=20),
        description="AdamW, warmup + cosine, clipping, accumulation.",
    )
    autocast: Literal["auto", "bf16", "off"] = Field(
        "auto",
        description="bf16 autocast of the target forward and the head: auto = where bf16 is native (CUDA, "
        "CPUs with AVX512-BF16/AMX: several times faster than float32), float32 elsewhere (emulated bf16 on an "
        "AVX2 CPU is ~10x slower); bf16 = always.",
    )
    hidden_states: Literal["online", "offline"] = Field(
        "online",
        description="online: run the frozen target each step; offline: dump its states to disk first.",
    )
    hidden_states_dir: str | None = Field(None, description="Offline dumps; None = run_dir/hidden_states.")

    eval: DraftEvalConfig = Field(default_factory=DraftEvalConfig, description="Offline τ evaluation.")
    backend: Literal["native", "specforge"] = Field(
        "native", description="native: this trainer (CPU or GPU); specforge: write a SpecForge run for GPUs."
    )
    specforge: SpecForgeConfig = Field(
        default_factory=SpecForgeConfig, description="SpecForge backend settings."
    )

    log_every: int = Field(10, gt=0, description="Optimizer steps between log lines.")
    checkpoint_every: int = Field(100, gt=0, description="Optimizer steps between resumable checkpoints.")
    seed: int = Field(0, description="Seed for initialisation and data order.")

    @field_validator("aux_layer_ids")
    @classmethod
    def _three_ascending(cls, ids: list[int] | None) -> list[int] | None:
        if ids is None:
            return None
        if len(ids) != 3 or any(b <= a for a, b in itertools.pairwise(ids)):
            raise ValueError("needs exactly three strictly ascending layer ids")
        if ids[0] < 2:
            raise ValueError("the first id must be >= 2 (SGLang treats a first id of 1 as an output id)")
        return ids

    @model_validator(mode="after")
    def _offline_dir(self) -> DraftConfig:
        if self.hidden_states_dir is not None and self.hidden_states == "online":
            raise ValueError("hidden_states_dir is set but hidden_states is 'online'")
        return self
