"""The `demo:` config section: the generated corpus, the base model built here, and the demo target."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from adaptation.config import EmbeddingsAdaptConfig, TokenizerAdaptConfig
from adaptation.difficulty import DifficultyFilterConfig
from adaptation.dpo import DPOStageConfig
from adaptation.grpo import GRPOStageConfig
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


class DemoAdaptConfig(StrictModel):
    """Adapt the base to Russian (adaptation/: tokenizer merge, embeddings init, freeze, unfreeze)."""

    enabled: bool = Field(
        True, description="Build the target from the adapted base; false: SFT the base directly."
    )
    tokenizer: TokenizerAdaptConfig = Field(
        default_factory=TokenizerAdaptConfig, description="Russian tokenizer training, pruning, merge."
    )
    embeddings: EmbeddingsAdaptConfig = Field(
        default_factory=EmbeddingsAdaptConfig, description="Embedding init, freeze and unfreeze training."
    )


class TargetConfig(StrictModel):
    """The demo target: the (adapted) base plus SFT on the demo chat data (TRL SFTTrainer)."""

    sft: SFTStageConfig = Field(default_factory=SFTStageConfig, description="SFT run.")
    eval_conversations: int = Field(
        200, gt=0, description="Held-out conversations used for the reported perplexity."
    )


class DemoPreferencesConfig(StrictModel):
    """DPO pairs for the demo: answers sampled from the GRPO model in vLLM, judged by the stand-in judge."""

    prompts: int = Field(24, gt=0, description="First user turns of SFT training conversations used.")
    samples: int = Field(4, ge=2, description="Answers sampled per prompt.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the answers.")
    max_tokens: int = Field(64, gt=0, description="Tokens per sampled answer.")
    max_length_ratio: float = Field(
        2.0, ge=1, description="Drop pairs whose chosen/rejected length ratio exceeds this either way."
    )


class DemoEvalConfig(StrictModel):
    """`specstack eval` over base, adapted, target, grpo and dpo on the held-out split."""

    max_prompts: int = Field(32, gt=0, description="RL prompts (FC, math, code) answered greedily.")
    max_conversations: int = Field(100, gt=0, description="Held-out chat conversations for perplexity.")
    max_documents: int = Field(50, gt=0, description="Held-out documents per language for perplexity.")
    max_new_tokens: int = Field(96, gt=0, description="Longest greedy answer.")


class DemoPostConfig(StrictModel):
    """Post-training after the target (which is the SFT stage): GRPO -> preference pairs -> DPO -> eval,
    a few steps each on the demo models (`specstack demo posttrain`)."""

    in_demo: bool = Field(False, description="`make demo` runs these stages too (a few minutes more).")
    grpo: GRPOStageConfig = Field(
        default_factory=lambda: GRPOStageConfig(
            max_prompts=8,
            num_generations=4,
            max_completion_length=64,
            max_steps=2,
            lr=1e-5,
            save_steps=1,
            difficulty_filter=DifficultyFilterConfig(samples=4, max_tokens=64),
        ),
        description="GRPO per domain (fc, math, code) on the corpus' RL prompts.",
    )
    preferences: DemoPreferencesConfig = Field(
        default_factory=DemoPreferencesConfig, description="Preference pair building."
    )
    dpo: DPOStageConfig = Field(
        default_factory=lambda: DPOStageConfig(
            max_steps=4, batch_size=4, lr=5e-6, warmup_steps=0, max_length=512, save_steps=2
        ),
        description="DPO on the built pairs.",
    )
    eval: DemoEvalConfig = Field(default_factory=DemoEvalConfig, description="The comparison table.")


class DemoConfig(StrictModel):
    """Everything `make demo` builds before drafting and serving; cached under out_dir by config hash."""

    out_dir: Path = Field(
        Path("artifacts/demo"), description="Where corpus/, base/, adapted/ and target/ are written."
    )
    corpus: CorpusConfig = Field(default_factory=CorpusConfig, description="The generated corpus.")
    tokenizer: BaseTokenizerConfig = Field(
        default_factory=BaseTokenizerConfig, description="The base tokenizer."
    )
    base: BaseModelConfig = Field(default_factory=BaseModelConfig, description="The base model.")
    adapt: DemoAdaptConfig = Field(
        default_factory=DemoAdaptConfig, description="The base adapted to Russian."
    )
    target: TargetConfig = Field(default_factory=TargetConfig, description="The demo target.")
    post: DemoPostConfig = Field(
        default_factory=DemoPostConfig, description="GRPO, DPO and the eval table after the target."
    )
