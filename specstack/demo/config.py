"""The `demo:` config section: the generated corpus, the base model built here, and the demo target."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from adaptation.sft import SFTStageConfig
from specstack.configbase import StrictModel
from specstack.demo.corpus.config import CorpusConfig
from specstack.demo.model_dir import ModelShape
from specstack.demo.pretrain import PretrainConfig


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
