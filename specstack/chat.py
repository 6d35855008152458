"""Chat rows in the contract format (OpenAI messages + tools), ShareGPT conversion, and an Arrow-safe form.

`datasets`/Arrow unify the keys of nested dicts across rows, so tool-call arguments of different tools
would gain each other's keys as nulls. `arrow_safe_row` keeps every variable-shape part as a JSON string
(tool-call arguments, tool schemas); the demo chat template prints string arguments verbatim, and
`json.dumps(..., ensure_ascii=False)` is exactly what its `tojson` filter would have printed.
"""

from __future__ import annotations

import json
from typing import Any

from specstack.errors import SpecstackError

ROLES = {"system", "user", "assistant", "tool"}
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "function_response": "tool",
    "function_call": "assistant",
}


def conversation_messages(row: dict, where: str = "row", require_assistant: bool = True) -> list[dict]:
    """The messages of an OpenAI-format (`messages`) or ShareGPT (`conversations`) row, validated
    (with at least one assistant turn unless `require_assistant` is off)."""
    if "messages" in row:
        messages = row["messages"]
    elif "conversations" in row:
        messages = from_sharegpt(row["conversations"], where)
    else:
        raise SpecstackError(f"{where}: expected a 'messages' (OpenAI) or 'conversations' (ShareGPT) list")
    if not isinstance(messages, list) or not messages:
        raise SpecstackError(f"{where}: the conversation is empty")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise SpecstackError(f"{where}: message {i} has no valid role (one of {sorted(ROLES)})")
    if require_assistant and not any(m["role"] == "assistant" for m in messages):
        raise SpecstackError(f"{where}: the conversation has no assistant turn to learn from")
    return messages


def from_sharegpt(turns: Any, where: str) -> list[dict]:
    """ShareGPT turns (`from`/`value`) as OpenAI messages; a `function_call` turn holding JSON becomes a
    tool call."""
    if not isinstance(turns, list):
        raise SpecstackError(f"{where}: 'conversations' must be a list of turns")
    messages = []
    for turn in turns:
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise SpecstackError(f"{where}: ShareGPT turns need 'from' and 'value'")
        role = SHAREGPT_ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise SpecstackError(f"{where}: unknown ShareGPT speaker {turn['from']!r}")
        if turn["from"] == "function_call":
            try:
                call = json.loads(turn["value"])
                messages.append({"role": "assistant", "content": "", "tool_calls": [{"function": call}]})
                continue
            except (json.JSONDecodeError, TypeError):
                pass
        messages.append({"role": role, "content": turn["value"]})
    return messages


def _arguments_json(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def arrow_safe_message(message: dict) -> dict:
    """One message with a fixed set of keys and tool-call arguments as JSON strings."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        calls.append(
            {
                "type": "function",
                "function": {"name": function["name"], "arguments": _arguments_json(function["arguments"])},
            }
        )
    return {
        "role": message["role"],
        "content": message.get("content") or "",
        "tool_calls": calls or None,
        "name": message.get("name"),
    }


def arrow_safe_row(row: dict, where: str = "row") -> dict:
    """`{"messages": [...], "tools": "<json>"|None}` ready for `datasets.Dataset.from_list` and TRL."""
    messages = [arrow_safe_message(m) for m in conversation_messages(row, where)]
    tools = row.get("tools")
    return {"messages": messages, "tools": json.dumps(tools, ensure_ascii=False) if tools else None}


def prompt_messages(row: dict, where: str = "row") -> list[dict]:
    """The conversation up to (not including) its last assistant turn: a prompt for generation."""
    messages = conversation_messages(row, where)
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last]
