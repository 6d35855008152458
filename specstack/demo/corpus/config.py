"""The corpus section of the config: seed, sizes, mixtures and the held-out fraction."""

from __future__ import annotations

from pydantic import Field, model_validator

from specstack.configbase import StrictModel


class SftMix(StrictModel):
    """Relative weights of the SFT conversation kinds (normalised; they need not sum to 1)."""

    ad: float = Field(0.20, ge=0, description="Classified-ad writing from item attributes (Russian).")
    chat: float = Field(0.20, ge=0, description="Seller replies to buyers in a marketplace chat (Russian).")
    support: float = Field(0.15, ge=0, description="Summaries of support-ticket dialogues (Russian).")
    review: float = Field(0.15, ge=0, description="Pros/cons/verdict summaries of product reviews (Russian).")
    fc: float = Field(0.15, ge=0, description="Function calling with marketplace tools.")
    math: float = Field(0.10, ge=0, description="Russian arithmetic word problems with worked solutions.")
    code: float = Field(0.05, ge=0, description="Small Python tasks answered with a fenced solution.")

    @model_validator(mode="after")
    def _some_weight(self) -> SftMix:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class RlMix(StrictModel):
    """Relative weights of the GRPO prompt domains."""

    fc: float = Field(0.5, ge=0, description="Tool-calling prompts with golden calls.")
    math: float = Field(0.3, ge=0, description="Word problems with a final numeric answer.")
    code: float = Field(0.2, ge=0, description="Python tasks with assert-based tests.")

    @model_validator(mode="after")
    def _some_weight(self) -> RlMix:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class FcMix(StrictModel):
    """Relative weights of the function-calling situations (used for SFT and RL alike)."""

    simple: float = Field(0.30, ge=0, description="One tool offered, one call.")
    multiple: float = Field(0.30, ge=0, description="Several tools offered, one call to the right one.")
    parallel: float = Field(0.20, ge=0, description="Two calls in one assistant turn.")
    irrelevance: float = Field(0.20, ge=0, description="Tools offered but none applies: a plain answer.")

    @model_validator(mode="after")
    def _some_weight(self) -> FcMix:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class CorpusConfig(StrictModel):
    """The deterministic demo corpus: the same config always yields byte-identical files."""

    seed: int = Field(0, description="Seed of every random choice; the same seed gives identical files.")
    sft_train: int = Field(6000, ge=0, description="SFT conversations in sft_train.jsonl.")
    rl_train: int = Field(1500, ge=0, description="GRPO prompts in rl_train.jsonl.")
    heldout_fraction: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Held-out size relative to train: SFT and RL held-out counts are round(train * this); "
        "for raw text, this share of the documents goes to the *_heldout.txt files.",
    )
    ru_text_bytes: int = Field(2_500_000, ge=0, description="Target UTF-8 size of the Russian raw text.")
    en_text_bytes: int = Field(1_000_000, ge=0, description="Target UTF-8 size of the English raw text.")
    code_text_bytes: int = Field(1_000_000, ge=0, description="Target UTF-8 size of the Python raw text.")
    sft_mix: SftMix = Field(default_factory=SftMix, description="Mixture of SFT conversation kinds.")
    rl_mix: RlMix = Field(default_factory=RlMix, description="Mixture of GRPO prompt domains.")
    fc_mix: FcMix = Field(default_factory=FcMix, description="Mixture of function-calling situations.")
