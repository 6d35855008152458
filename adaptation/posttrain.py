"""The post-training stages of the `adapt:` config (section `post:`): SFT -> GRPO -> preferences -> DPO.

Each stage's input model defaults to the previous stage's output, starting from the adapted model
(`<out_dir>/model/unfreeze`); outputs go under `<out_dir>/post/`:
  sft/model   grpo/<domain>/model (the last domain's is GRPO's output)   preferences.jsonl   dpo/model
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from adaptation.dpo import DPOStageConfig
from adaptation.grpo import GRPOStageConfig
from adaptation.preferences import PreferenceConfig
from adaptation.sft import SFTStageConfig
from specstack.configbase import StrictModel
from specstack.errors import SpecstackError


class SFTSection(StrictModel):
    """`adapt sft`: supervised fine-tuning on chat JSONL."""

    model: Path | None = Field(None, description="Model to train (HF dir); default: the adapted model.")
    data: Path | None = Field(None, description="Chat JSONL (OpenAI messages + tools, or ShareGPT).")
    train: SFTStageConfig = Field(default_factory=SFTStageConfig, description="Trainer settings.")


class GRPOSection(StrictModel):
    """`adapt grpo`: GRPO with rule-based rewards, domains one after another."""

    model: Path | None = Field(None, description="Model to train (HF dir); default: the SFT output.")
    prompts: Path | None = Field(
        None, description="RL prompts JSONL ({prompt, domain, answer|tool_calls|tests})."
    )
    train: GRPOStageConfig = Field(default_factory=GRPOStageConfig, description="Trainer settings.")


class PreferencesSection(StrictModel):
    """`adapt preferences`: sample answers, judge them, write DPO pairs."""

    prompts: Path | None = Field(None, description="Prompts JSONL ({prompt, kind: general|unsafe}).")
    output: Path | None = Field(
        None, description="Pairs JSONL to write; default: <out_dir>/post/preferences.jsonl."
    )
    build: PreferenceConfig = Field(
        default_factory=PreferenceConfig, description="Endpoints, judging, balancing."
    )


class DPOSection(StrictModel):
    """`adapt dpo`: DPO on the built pairs."""

    model: Path | None = Field(None, description="Model to train (HF dir); default: the GRPO output.")
    pairs: Path | None = Field(None, description="Pairs JSONL; default: the preferences output.")
    train: DPOStageConfig = Field(default_factory=DPOStageConfig, description="Trainer settings.")


class PostTrainConfig(StrictModel):
    """SFT, GRPO, preference building and DPO after the embeddings are adapted."""

    sft: SFTSection = Field(default_factory=SFTSection, description="Supervised fine-tuning.")
    grpo: GRPOSection = Field(default_factory=GRPOSection, description="GRPO with rule-based rewards.")
    preferences: PreferencesSection = Field(
        default_factory=PreferencesSection, description="DPO pair building."
    )
    dpo: DPOSection = Field(default_factory=DPOSection, description="DPO.")


class PostLayout:
    """Where each post-training stage reads and writes, given the adapt config."""

    def __init__(self, out_dir: Path, post: PostTrainConfig) -> None:
        self.root = Path(out_dir) / "post"
        self.adapted = Path(out_dir) / "model" / "unfreeze"
        self.post = post

    @property
    def sft_out(self) -> Path:
        return self.root / "sft"

    @property
    def sft_model(self) -> Path:
        return self.post.sft.model or self.adapted

    @property
    def grpo_out(self) -> Path:
        return self.root / "grpo"

    @property
    def grpo_model(self) -> Path:
        return self.post.grpo.model or self.sft_out / "model"

    @property
    def grpo_result(self) -> Path:
        domains = self.post.grpo.train.domains
        return self.grpo_out / domains[-1] / "model" if domains else self.grpo_model

    @property
    def preferences_out(self) -> Path:
        return self.post.preferences.output or self.root / "preferences.jsonl"

    @property
    def dpo_model(self) -> Path:
        return self.post.dpo.model or self.grpo_result

    @property
    def dpo_pairs(self) -> Path:
        return self.post.dpo.pairs or self.preferences_out

    @property
    def dpo_out(self) -> Path:
        return self.root / "dpo"


def need_model(path: Path, stage: str) -> Path:
    if not (path / "config.json").is_file():
        raise SpecstackError(f"{stage}: no model at {path} (give --model or run the previous stage)")
    return path


def need_file(path: Path | None, what: str, flag: str) -> Path:
    if path is None:
        raise SpecstackError(f"{what} not given (set it in the config or pass {flag})")
    if not Path(path).is_file():
        raise SpecstackError(f"{path}: no such file ({what})")
    return Path(path)
