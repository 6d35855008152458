"""The run config: one YAML file, one optional section per part of the stack, validated by pydantic.

Each part owns its section's schema (in its own `config.py`); this module only composes them. Unknown keys
anywhere are rejected with their dotted name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from adaptation.config import AdaptConfig
from draft_training.config import DraftConfig
from loadtest.config import LoadtestConfig
from serving.engines.config import EngineConfig
from serving.gateway.config import GatewayConfig
from specstack.configbase import StrictModel, read_yaml, validate
from specstack.demo.config import DemoConfig
from specstack.errors import SpecstackError

S = TypeVar("S", bound=BaseModel)


class RunConfig(StrictModel):
    """A whole run: which sections are present decides which commands the file can drive."""

    seed: int = Field(0, description="Seed for every random choice in the run.")
    demo: DemoConfig | None = Field(None, description="The embedded demo: corpus, base model, demo target.")
    serve: EngineConfig | None = Field(
        None,
        description="The engine server: vLLM (CPU default, GPU) or SGLang (GPU), target, draft, speculation.",
    )
    draft: DraftConfig | None = Field(None, description="EAGLE-3 draft-head training and offline evaluation.")
    loadtest: LoadtestConfig | None = Field(
        None,
        description="Load test: speculative vs plain, batch-size sweep, fixed rate, capacity probe, report.",
    )
    adapt: AdaptConfig | None = Field(
        None, description="Adapt a base model to Russian: tokenizer train/prune/merge, embedding training."
    )
    gateway: GatewayConfig | None = Field(
        None,
        description="The OpenAI-compatible gateway: model pools, API keys, limits, timeouts, load-aware routing.",
    )


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a run config; errors are one line naming the file and the bad key."""
    return validate(RunConfig, read_yaml(path), str(path))


def require_section(cfg: RunConfig, name: str, path: str | Path) -> S:
    """The section `name` of `cfg`, or a one-line error saying the config lacks it."""
    section = getattr(cfg, name)
    if section is None:
        raise SpecstackError(f"{path}: this command needs a '{name}:' section in the config")
    return section
