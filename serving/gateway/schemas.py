"""The OpenAI request bodies the gateway validates (and publishes in its OpenAPI schema).

Only what the gateway must rely on, or what every engine rejects anyway, is checked; unknown fields pass
through to the engine (vLLM's and SGLang's extra sampling parameters, tools, response formats, ...).
Integers and booleans are strict (`"10"` or `true` is no max_tokens) and NaN/Infinity are refused: engines
parse JSON by the standard, and a value the gateway reads must mean to it what it means to the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


class _Generation(_Open):
    model: str = Field(..., min_length=1, max_length=256, description="A model name from GET /v1/models.")
    stream: StrictBool | None = Field(False, description="Send server-sent events as tokens are produced.")
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: StrictInt | None = Field(None, ge=1, le=128)
    stop: str | list[str] | None = None
    seed: StrictInt | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    user: str | None = None


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def prompt_chars(self) -> int:
        """Characters of every string in the messages' content, parts of any type included (an image's data
        URL counts: the engine has to read it too)."""
        return sum(_string_chars(m.content) for m in self.messages)


class CompletionRequest(_Generation):
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        ..., description="Text, texts or token ids."
    )
    echo: StrictBool | None = None
    logprobs: StrictInt | None = Field(None, ge=0, le=20)

    def prompt_chars(self) -> int:
        p = self.prompt
        if isinstance(p, str):
            return len(p)
        return sum(len(x) if isinstance(x, str | list) else 1 for x in p)


def _string_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_string_chars(v) for v in value.values())
    if isinstance(value, list):
        return sum(_string_chars(v) for v in value)
    return 0
