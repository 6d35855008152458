"""The OpenAI request bodies the gateway validates (and publishes in its OpenAPI schema).

Only what the gateway must rely on, or what every engine rejects anyway, is checked; unknown fields pass
through to the engine (vLLM's and SGLang's extra sampling parameters, tools, response formats, ...).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: bool | None = None


class _Generation(_Open):
    model: str = Field(..., min_length=1, max_length=256, description="A model name from GET /v1/models.")
    stream: bool | None = Field(False, description="Send server-sent events as tokens are produced.")
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    user: str | None = None


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def prompt_chars(self) -> int:
        total = 0
        for m in self.messages:
            if isinstance(m.content, str):
                total += len(m.content)
            elif m.content:
                total += sum(len(p.get("text") or "") for p in m.content if isinstance(p.get("text"), str))
        return total


class CompletionRequest(_Generation):
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        ..., description="Text, texts or token ids."
    )
    echo: bool | None = None
    logprobs: int | None = Field(None, ge=0, le=20)

    def prompt_chars(self) -> int:
        p = self.prompt
        if isinstance(p, str):
            return len(p)
        return sum(len(x) if isinstance(x, str | list) else 1 for x in p)
