"""The `adapt.synth_fc` config section: inputs, sizes, and the endpoint of each role."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from adaptation.sampling import EndpointConfig
from specstack.configbase import StrictModel

# role -> (temperature, max_tokens) when the role's section leaves them out
ROLE_DEFAULTS: dict[str, tuple[float, int]] = {
    "generator": (0.8, 2048),
    "judge": (0.0, 1024),
    "user": (0.8, 256),
    "assistant": (0.6, 1024),
    "api": (0.3, 512),
    "stop": (0.0, 256),
}


class RoleConfig(StrictModel):
    """One role's endpoint and sampling; what is left out comes from the shared `endpoint` and the role's
    defaults."""

    url: str | None = Field(None, description="This role's endpoint URL (default: endpoint.url).")
    model: str | None = Field(None, description="Model name sent for this role (default: endpoint.model).")
    api_key_env: str | None = Field(
        None, description="Environment variable with this role's API key (default: endpoint.api_key_env)."
    )
    temperature: float | None = Field(
        None,
        ge=0,
        description="Sampling temperature (default: generator 0.8, judge 0, user 0.8, assistant 0.6, api 0.3, "
        "stop 0).",
    )
    max_tokens: int | None = Field(None, gt=0, description="Tokens per reply (default: per role, 256-2048).")


class SynthFCConfig(StrictModel):
    """`adapt synth-fc`: blueprint -> review (with feedback) -> simulated dialogue -> final review, per sample."""

    tools: Path | None = Field(
        None, description="Tool specs: a JSON list (or {tools: [...]}) or JSONL of OpenAI tool definitions."
    )
    personas: Path | None = Field(
        None, description="Text file, one persona per line (default: built-in Russian marketplace personas)."
    )
    output: Path | None = Field(
        None, description="SFT JSONL to write; default: <out_dir>/post/synth_fc.jsonl."
    )
    samples: int = Field(100, gt=0, description="Samples to attempt (kept ones are fewer).")
    seed: int = Field(0, description="Seed of the per-sample choice of tools and persona.")
    min_tools: int = Field(1, ge=1, description="Fewest tools offered in one sample.")
    max_tools: int = Field(3, ge=1, description="Most tools offered in one sample.")
    blueprint_rounds: int = Field(
        5, ge=1, description="Generator attempts per blueprint (each after the judge's feedback); then drop."
    )
    max_turns: int = Field(
        6, ge=1, description="User turns at most; a dialogue not stopped by then is dropped."
    )
    max_tool_rounds: int = Field(
        4, ge=1, description="Rounds of tool calls the assistant may make before it must answer in text."
    )
    assistant_retries: int = Field(
        2, ge=0, description="Re-asks of the assistant after a call that fails its schema; then drop."
    )
    workers: int = Field(4, ge=1, description="Samples simulated at once.")
    endpoint: EndpointConfig = Field(
        default_factory=lambda: EndpointConfig(url="http://127.0.0.1:8000"),
        description="The shared OpenAI-compatible endpoint every role uses unless it names its own.",
    )
    generator: RoleConfig = Field(
        default_factory=RoleConfig,
        description="Writes the blueprint: environment, system prompt, goal, plan.",
    )
    judge: RoleConfig = Field(
        default_factory=RoleConfig, description="Reviews blueprints and finished dialogues (a large model)."
    )
    user: RoleConfig = Field(
        default_factory=RoleConfig, description="Plays the user: the persona pursuing the goal."
    )
    assistant: RoleConfig = Field(
        default_factory=RoleConfig,
        description="Plays the assistant with the tools (the calls are validated).",
    )
    api: RoleConfig = Field(
        default_factory=RoleConfig, description="Emulates the tools' backend: JSON results."
    )
    stop: RoleConfig = Field(
        default_factory=RoleConfig, description="Decides after each answer whether the dialogue is over."
    )

    @model_validator(mode="after")
    def _tool_range(self) -> SynthFCConfig:
        if self.min_tools > self.max_tools:
            raise ValueError(f"min_tools ({self.min_tools}) exceeds max_tools ({self.max_tools})")
        return self

    def role(self, name: str) -> tuple[EndpointConfig, float, int]:
        """A role's endpoint (the shared one with this role's URL, model and key), temperature, max_tokens."""
        own: RoleConfig = getattr(self, name)
        endpoint = self.endpoint.model_copy(
            update={
                "url": own.url or self.endpoint.url,
                "model": own.model or self.endpoint.model,
                "api_key_env": own.api_key_env or self.endpoint.api_key_env,
            }
        )
        temperature, max_tokens = ROLE_DEFAULTS[name]
        return (
            endpoint,
            temperature if own.temperature is None else own.temperature,
            own.max_tokens or max_tokens,
        )
