"""Sample several answers to a chat prompt: from an OpenAI-compatible endpoint or from a local HF model.

Both return completions in TRL's conversational form, a list with one assistant message
(`{"role": "assistant", "content": ..., "tool_calls": [...]?}`), which is what the rewards score. An endpoint
that parses tool calls itself (vLLM `--tool-call-parser hermes`, SGLang `qwen25`) returns them in
`tool_calls`; one that does not leaves the `<tool_call>` blocks in the text; the FC reward reads both.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from specstack.configbase import StrictModel
from specstack.errors import SpecstackError


class EndpointConfig(StrictModel):
    """An OpenAI-compatible chat endpoint (our gateway, vLLM or SGLang)."""

    url: str = Field(..., description="Base URL, e.g. http://127.0.0.1:8000 (with or without /v1).")
    model: str = Field("default", description="Model name sent in each request.")
    api_key_env: str | None = Field(
        None, description="Environment variable holding the API key (sent as a Bearer token)."
    )
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    concurrency: int = Field(8, ge=1, description="Requests in flight at once.")
    max_retries: int = Field(
        2,
        ge=0,
        description="Retries of a failed request (connection errors, timeouts, 408, 409, 429, 5xx), with "
        "exponential backoff; a Retry-After of up to 60 s is waited out instead.",
    )


class Sampler(Protocol):
    def sample(self, messages: list[dict], n: int, tools: list[dict] | None = None) -> list[list[dict]]: ...


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _assistant_message(message: dict) -> list[dict]:
    out = {"role": "assistant", "content": message.get("content") or ""}
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        calls.append(
            {
                "type": "function",
                "function": {"name": function.get("name"), "arguments": function.get("arguments")},
            }
        )
    if calls:
        out["tool_calls"] = calls
    return [out]


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _describe(error: Exception) -> str:
    """An SDK error and its cause, e.g. "Connection error. (ConnectError: [Errno 111] Connection refused)"."""
    cause = error.__cause__
    return f"{error} ({type(cause).__name__}: {cause})" if cause else str(error)


def _api_key(cfg: EndpointConfig) -> str | None:
    """The endpoint's API key from `cfg.api_key_env`, None when it names none."""
    if not cfg.api_key_env:
        return None
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise SpecstackError(f"${cfg.api_key_env} is not set (the API key for {cfg.url})")
    return key


class EndpointClient:
    """Chat completions against one OpenAI-compatible endpoint (n answers = n requests, run concurrently).

    Built on the `openai` SDK: retries with exponential backoff, Retry-After honoured (`cfg.max_retries`).
    """

    def __init__(self, cfg: EndpointConfig, temperature: float = 0.7, max_tokens: int = 512) -> None:
        import openai

        self.cfg = cfg
        self.temperature = temperature
        self.max_tokens = max_tokens
        key = _api_key(cfg)
        # without a key no Authorization header is sent (the SDK wants some key, and no OPENAI_API_KEY leaks)
        self._headers = {} if key else {"Authorization": openai.Omit()}
        self._client = openai.OpenAI(
            base_url=_base_url(cfg.url),
            api_key=key or "unused",
            max_retries=cfg.max_retries,
            timeout=cfg.timeout_s,
        )
        self._url = _base_url(cfg.url) + "/chat/completions"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EndpointClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat(self, messages: list[dict], tools: list[dict] | None = None, **params: Any) -> dict:
        """One chat completion; returns the first choice's message. SpecstackError after retries fail."""
        import openai

        body = {"temperature": self.temperature, "max_tokens": self.max_tokens, **params}
        if tools:
            body["tools"] = tools
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.cfg.model, messages=messages, extra_body=body, extra_headers=self._headers
            )
        except openai.APIStatusError as e:
            raise SpecstackError(f"{self._url}: HTTP {e.status_code}: {_one_line(e.response.text)}") from None
        except openai.APIError as e:  # connection refused, timeout
            raise SpecstackError(f"{self._url}: {_one_line(_describe(e))}") from None
        try:
            message = json.loads(raw.text)["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            message = None
        if not isinstance(message, dict):
            raise SpecstackError(f"{self._url}: not a chat completion: {_one_line(raw.text)}")
        return message

    def sample(self, messages: list[dict], n: int, tools: list[dict] | None = None) -> list[list[dict]]:
        with ThreadPoolExecutor(max_workers=min(n, self.cfg.concurrency)) as pool:
            replies = list(pool.map(lambda _: self.chat(messages, tools), range(n)))
        return [_assistant_message(m) for m in replies]


class LocalSampler:
    """Sampling from a local HF model directory with transformers' generate (CPU or one GPU); temperature 0
    is greedy decoding."""

    def __init__(self, model_dir: str | Path, temperature: float = 0.7, max_tokens: int = 512,
                 chat_template_kwargs: dict | None = None) -> None:  # fmt: skip
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = (
            AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).to(device).eval()
        )
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.template_kwargs = chat_template_kwargs or {}

    def sample(self, messages: list[dict], n: int, tools: list[dict] | None = None) -> list[list[dict]]:
        import torch

        text = self.tokenizer.apply_chat_template(
            messages, tools=tools or None, add_generation_prompt=True, tokenize=False, **self.template_kwargs
        )
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        greedy = self.temperature == 0  # transformers refuses temperature 0: greedy is do_sample=False
        with torch.no_grad():
            out = self.model.generate(
                **ids, do_sample=not greedy, max_new_tokens=self.max_tokens,
                num_return_sequences=1 if greedy else n,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                **({} if greedy else {"temperature": self.temperature}),
            )  # fmt: skip
        texts = self.tokenizer.batch_decode(out[:, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        if greedy:
            texts = texts * n  # greedy decoding has one answer
        return [[{"role": "assistant", "content": t}] for t in texts]


def row_tools(row: dict) -> list[dict] | None:
    """A row's tool schemas (a list, or a JSON string of one), or None."""
    tools = row.get("tools")
    if isinstance(tools, str):
        tools = json.loads(tools)
    return tools or None
