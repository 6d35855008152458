"""The `demo:` config section: the generated corpus, the base model built here, and the demo target."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from adaptation.sft import SFTStageConfig
from specstack.configbase import StrictModel
from specstack.demo.corpus.config import CorpusConfig
from specstack.schedule import OptimConfig


class ModelShape(StrictModel):
    """The Qwen3 architecture of a demo model."""

    hidden_size: int = Field(512, gt=0, description="Width of the residual stream.")
    num_hidden_layers: int = Field(8, ge=4, description="Decoder layers (EAGLE-3 taps layers 2, L//2, L-3).")
    num_attention_heads: int = Field(8, gt=0, description="Query heads.")
    num_key_value_heads: int = Field(2, gt=0, description="Key/value heads (grouped-query attention).")
    head_dim: int = Field(64, gt=0, description="Width of one attention head.")
    intermediate_size: int = Field(1536, gt=0, description="Width of the SwiGLU MLP.")
    max_position_embeddings: int = Field(2048, gt=0, description="Longest sequence the model accepts.")
    rope_theta: float = Field(10000.0, gt=0, description="RoPE base.")


class PretrainConfig(StrictModel):
    """How the base model is pretrained on raw text."""

    optim: OptimConfig = Field(
        default_factory=lambda: OptimConfig(steps=600, lr=2e-3, warmup_steps=30, weight_decay=0.1),
        description="Optimizer and schedule.",
    )
    batch_size: int = Field(16, gt=0, description="Sequences per step.")
    seq_len: int = Field(256, gt=1, description="Tokens per sequence.")
    bf16: bool = Field(True, description="bf16 autocast (fast on CPUs with AVX512-BF16).")
    checkpoint_every: int = Field(100, gt=0, description="Save a resumable checkpoint every N steps.")


class BaseTokenizerConfig(StrictModel):
    """The base model's byte-level BPE: trained mostly on English and code, like a typical open model's."""

    vocab_size: int = Field(4096, ge=512, description="Total ids, chat and tool tokens included.")
    russian_share: float = Field(
        0.2, ge=0, le=1, description="Share of Russian characters in the tokenizer's training text."
    )


class BaseModelConfig(StrictModel):
    """The stand-in for an open-source base model: a small Qwen3 pretrained here on raw text."""

    shape: ModelShape = Field(default_factory=ModelShape, description="Qwen3 architecture.")
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig, description="Pretraining run.")


class TargetConfig(StrictModel):
    """The demo target: the base plus SFT on the demo chat data (TRL SFTTrainer)."""

    sft: SFTStageConfig = Field(default_factory=SFTStageConfig, description="SFT run.")
    eval_conversations: int = Field(
        200, gt=0, description="Held-out conversations used for the reported perplexity."
    )


class DemoConfig(StrictModel):
    """Everything `make demo` builds before drafting and serving; cached under out_dir by config hash."""

    out_dir: Path = Field(Path("artifacts/demo"), description="Where corpus/, base/ and target/ are written.")
    corpus: CorpusConfig = Field(default_factory=CorpusConfig, description="The generated corpus.")
    tokenizer: BaseTokenizerConfig = Field(
        default_factory=BaseTokenizerConfig, description="The base tokenizer."
    )
    base: BaseModelConfig = Field(default_factory=BaseModelConfig, description="The base model.")
    target: TargetConfig = Field(default_factory=TargetConfig, description="The demo target.")
