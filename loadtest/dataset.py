"""Prompts for the load test: any SFT JSONL, each conversation cut before its last assistant turn."""

from __future__ import annotations

import json
import random
from pathlib import Path

from specstack.chat import conversation_messages
from specstack.errors import SpecstackError
from specstack.io import read_jsonl


def _messages(row: dict) -> list[dict] | None:
    """The messages of an OpenAI or ShareGPT row; None for a row the load test cannot use."""
    try:
        return conversation_messages(row, "row", require_assistant=False)
    except SpecstackError:
        return None


def to_request_messages(messages: list[dict]) -> list[dict]:
    """SFT messages as an OpenAI request accepts them: tool calls get ids, `type` and JSON-string arguments;
    tool results get the `tool_call_id` of the call they answer (in order)."""
    out, pending, n = [], [], 0
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                call = dict(call)
                fn = dict(call.get("function") or {})
                if not isinstance(fn.get("arguments"), str):
                    fn["arguments"] = json.dumps(fn.get("arguments") or {}, ensure_ascii=False)
                call.setdefault("id", f"call_{n}")
                call.setdefault("type", "function")
                call["function"] = fn
                n += 1
                pending.append(call["id"])
                calls.append(call)
            m["tool_calls"] = calls
        elif m.get("role") == "tool":
            m.setdefault("tool_call_id", pending.pop(0) if pending else f"call_{n}")
        out.append(m)
    return out


def prompt_from_conversation(row: dict) -> dict | None:
    """The request part of one SFT row: messages before the last assistant turn (and its tools), or None."""
    messages = _messages(row)
    if not messages:
        return None
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages))
    prompt = to_request_messages(messages[:last])
    if not prompt or prompt[-1].get("role") not in ("user", "tool"):
        return None
    out: dict = {"messages": prompt}
    if row.get("tools"):
        out["tools"] = row["tools"]
    return out


def load_prompts(path: str | Path, max_prompts: int | None = None, seed: int = 0) -> list[dict]:
    """Prompts of a dataset in file order (a seeded sample of `max_prompts` when given)."""
    prompts = [p for row in read_jsonl(path) if (p := prompt_from_conversation(row)) is not None]
    if not prompts:
        raise SpecstackError(
            f"{path}: no usable conversation (need a user or tool turn before an assistant turn)"
        )
    if max_prompts is not None and len(prompts) > max_prompts:
        idx = sorted(random.Random(seed).sample(range(len(prompts)), max_prompts))
        prompts = [prompts[i] for i in idx]
    return prompts


def prompt_order(n_prompts: int, n_requests: int, seed: int) -> list[int]:
    """Which prompt the i-th request of a run uses: seeded shuffles, cycled; same seed, same requests."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < n_requests:
        perm = list(range(n_prompts))
        rng.shuffle(perm)
        order.extend(perm)
    return order[:n_requests]
