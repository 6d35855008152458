"""The `adapt:` config section: corpora, tokenizer adaptation (train, prune, merge) and embedding training.

Defaults are sized for the demo (a 512-wide, 8-layer Qwen3 with a 4,096-token base vocabulary on 2 CPU
cores: the whole adaptation in about two minutes); configs/qwen3-8b.yaml-style runs raise vocab sizes and
steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from adaptation.posttrain import PostTrainConfig
from adaptation.synth_fc.config import SynthFCConfig
from specstack.configbase import StrictModel


class CorporaConfig(StrictModel):
    """Raw-text files (documents separated by three blank lines, the demo corpus' format)."""

    russian_train: list[Path] = Field(
        default_factory=list,
        description="Russian text: trains the Russian tokenizer, prunes it, and trains the embeddings.",
    )
    english_train: list[Path] = Field(
        default_factory=list, description="English text the base tokenizer is pruned on (its own 99% set)."
    )
    code_train: list[Path] = Field(
        default_factory=list, description="Source code the base tokenizer is pruned on (its own 99% set)."
    )
    russian_heldout: list[Path] = Field(
        default_factory=list, description="Held-out Russian: density report and loss per character."
    )
    english_heldout: list[Path] = Field(
        default_factory=list, description="Held-out English: density report and loss per character."
    )
    code_heldout: list[Path] = Field(
        default_factory=list, description="Held-out code: density report and loss per character."
    )


class TokenizerAdaptConfig(StrictModel):
    """Train the Russian byte-level BPE on the base's pipeline, prune both sides, merge."""

    vocab_size: int = Field(
        8192,
        gt=300,
        description="Russian tokenizer size, added tokens included (fewer if the corpus is small).",
    )
    min_frequency: int = Field(2, ge=1, description="A pair must occur this often to become a merge.")
    coverage: float = Field(
        0.99,
        gt=0,
        le=1,
        description="Keep the most frequent tokens until they cover this share of a corpus' token occurrences.",
    )
    protected_base_ids: int = Field(
        0,
        ge=0,
        description="Base tokens with ids below this are kept whatever the English/code corpora cover: the "
        "base's own most frequent tokens, protected from a pruning corpus smaller than the text users send.",
    )
    added_tokens: list[str] = Field(
        default_factory=list,
        description="Tokens the merged tokenizer adds when the base lacks them (single tokens, not special, "
        "e.g. <tool_call> for a tool-calling chat template); their rows start from the base pieces of their text.",
    )
    russian_candidates: Literal["cyrillic", "non_latin"] = Field(
        "non_latin",
        description="Russian tokens that may be kept: with Cyrillic text, or also non-Latin symbols (№ ₽ « »).",
    )


class TrainStageConfig(StrictModel):
    """One HF Trainer run over the packed embedding-training text."""

    max_steps: int = Field(25, gt=0, description="Optimizer steps.")
    batch_size: int = Field(4, gt=0, description="Sequences per step.")
    lr: float = Field(2e-3, gt=0, description="Peak learning rate (cosine schedule).")
    warmup_steps: int = Field(4, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(
        0.0, ge=0, description="AdamW weight decay on non-embedding matrices (never on embeddings)."
    )
    save_steps: int = Field(
        20, gt=0, description="Checkpoint every N steps; a killed run resumes from the last."
    )
    logging_steps: int = Field(10, gt=0, description="Log the loss every N steps.")


class EmbeddingsAdaptConfig(StrictModel):
    """Resize and initialise the embeddings, train them with old rows frozen, then train everything."""

    pad_to_multiple_of: int = Field(1, ge=1, description="Round the embedding rows up to a multiple of this.")
    seq_len: int = Field(256, gt=1, description="Tokens per training sequence.")
    english_share: float = Field(
        0.4,
        ge=0,
        lt=1,
        description="Share of English/code characters mixed into the Russian training text (keeps them from "
        "drifting: on the demo 0.4 beat 0.2 on all three held-out domains).",
    )
    max_train_documents: int = Field(
        20000, gt=0, description="Use at most this many training documents (after mixing)."
    )
    freeze: TrainStageConfig = Field(
        default_factory=lambda: TrainStageConfig(lr=3e-3),
        description="Stage 1: only embedding matrices train; old-token rows are frozen by gradient hooks.",
    )
    unfreeze: TrainStageConfig = Field(
        default_factory=lambda: TrainStageConfig(lr=3e-4),
        description="Stage 2: all parameters train on the same data.",
    )
    bf16: bool = Field(
        True,
        description="bf16 autocast where bf16 is native (GPUs, CPUs with AVX512-BF16/AMX); float32 elsewhere.",
    )
    eval_documents: int = Field(
        12,
        ge=0,
        description="Held-out documents per domain for loss per character: base and final model on every "
        "domain, after freeze on Russian (0: no evaluation).",
    )


class AdaptConfig(StrictModel):
    """Adapt a base model to Russian: tokenizer train -> prune -> merge -> report; embeddings init ->
    freeze -> unfreeze. Every stage writes under out_dir."""

    base_model: Path | None = Field(
        None,
        description="The base model: an HF dir, or a GGUF file (converted once into out_dir/base); its "
        "tokenizer is the base tokenizer unless base_tokenizer.",
    )
    chat_template: Path | None = Field(
        None, description="Chat template (Jinja file) of the merged tokenizer instead of the base's."
    )
    base_tokenizer: Path | None = Field(
        None, description="Base tokenizer instead of the model's: HF dir, tokenizer.json or *.tiktoken ranks."
    )
    out_dir: Path = Field(
        Path("artifacts/adapt"), description="Where tokenizer/, model/ and runs/ are written."
    )
    seed: int = Field(0, description="Seed for data order, mixing and initialisation.")
    corpora: CorporaConfig = Field(default_factory=CorporaConfig, description="Training and held-out text.")
    tokenizer: TokenizerAdaptConfig = Field(
        default_factory=TokenizerAdaptConfig, description="Tokenizer adaptation."
    )
    embeddings: EmbeddingsAdaptConfig = Field(
        default_factory=EmbeddingsAdaptConfig, description="Embedding initialisation and training."
    )
    post: PostTrainConfig = Field(
        default_factory=PostTrainConfig,
        description="Post-training: sft, grpo, preferences, dpo (under out_dir/post).",
    )
    synth_fc: SynthFCConfig = Field(
        default_factory=SynthFCConfig,
        description="Synthetic function-calling SFT data (APIGen-MT style): `adapt synth-fc`.",
    )
