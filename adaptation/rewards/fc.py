"""Function-calling reward: 1 when the completion's tool calls equal the golden ones, else 0.

Calls are read from Qwen-style blocks, `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`
(one per call, several for parallel calls), outside any `<think>` block; a chat message's `tool_calls`
field (when a server or TRL already parsed them) counts the same way.

Equality is strict and order-free:
- the multiset of calls must match (parallel calls in any order; a duplicated call counts twice);
- names match exactly; arguments match after JSON normalisation: key order is ignored, strings are
  compared after Unicode NFC, and JSON numbers by value (`5 == 5.0`), but a number never equals a
  numeric string (`"15000" != 15000`): the tool schemas type their fields (an 8-digit `order_id` is a
  string, `price` an integer), and a call with the wrong JSON type is a call the tool may reject;
- `arguments` given as a JSON string (OpenAI's wire form) is decoded first;
- golden `[]` (irrelevance: no tool applies) scores 1 only when the completion makes no call at all;
- any malformed block (bad JSON, no name, arguments not an object, an unclosed `<tool_call>`) scores 0.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Any

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


class MalformedCall(ValueError):
    """The completion tried to call a tool but the call cannot be read."""


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a list of messages (assistant contents joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    parts = []
    for message in completion or []:
        if message.get("role", "assistant") == "assistant":
            parts.append(message.get("content") or "")
    return "\n".join(parts)


def _message_calls(completion: Any) -> list[dict]:
    if isinstance(completion, str):
        return []
    messages = [completion] if isinstance(completion, dict) else list(completion or [])
    calls = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            calls.append(call.get("function", call))
    return calls


def _canonical(value: Any) -> Any:
    """A hashable, order-free form of a JSON value (see the module docstring for the rules)."""
    if isinstance(value, bool) or value is None:
        return ("lit", value)
    if isinstance(value, int | float):
        return ("num", float(value))
    if isinstance(value, str):
        return ("str", unicodedata.normalize("NFC", value))
    if isinstance(value, list):
        return ("list", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return (
            "obj",
            tuple(sorted((unicodedata.normalize("NFC", k), _canonical(v)) for k, v in value.items())),
        )
    raise MalformedCall(f"not a JSON value: {type(value).__name__}")


def canonical_call(call: Any) -> tuple:
    """`("name", canonical arguments)` of one `{"name", "arguments"}` call; MalformedCall if unreadable."""
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        raise MalformedCall("a call needs a non-empty string 'name'")
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as e:
            raise MalformedCall(f"arguments are not JSON: {e}") from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise MalformedCall("arguments must be a JSON object")
    return call["name"], _canonical(arguments)


def parse_tool_calls(completion: Any) -> list[dict]:
    """The calls a completion makes, as `{"name", "arguments"}` dicts; MalformedCall if any is unreadable."""
    text = _THINK.sub("", completion_text(completion))
    calls = list(_message_calls(completion))
    for body in _BLOCK.findall(text):
        try:
            call = json.loads(body.strip())
        except json.JSONDecodeError as e:
            raise MalformedCall(f"tool call is not JSON: {e}") from None
        canonical_call(call)
        calls.append(call)
    if "<tool_call>" in _BLOCK.sub("", text):
        raise MalformedCall("an unclosed <tool_call> block")
    return calls


def golden_calls(value: Any) -> list[dict]:
    """The golden calls of a row: a list of `{"name", "arguments"}`, or that list as a JSON string."""
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [call.get("function", call) for call in value]


def fc_score(completion: Any, golden: Any) -> float:
    """1.0 when the completion's calls equal the golden calls (order-free), else 0.0."""
    try:
        made = Counter(canonical_call(c) for c in parse_tool_calls(completion))
    except MalformedCall:
        return 0.0
    want = Counter(canonical_call(c) for c in golden_calls(golden))
    return 1.0 if made == want else 0.0


def fc_reward(completions: list, tool_calls: list, **_: Any) -> list[float]:
    """TRL reward function: the `tool_calls` dataset column holds the golden calls of each row."""
    return [fc_score(c, g) for c, g in zip(completions, tool_calls, strict=True)]
