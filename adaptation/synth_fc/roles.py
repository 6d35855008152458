"""The roles' endpoint clients, JSON replies read out of free text, and conversations rendered for reviewers."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from adaptation.sampling import EndpointClient
from adaptation.synth_fc.config import ROLE_DEFAULTS, SynthFCConfig

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)


@dataclass
class Roles:
    """One OpenAI-compatible client per role (they may all point at one endpoint and model)."""

    generator: EndpointClient
    judge: EndpointClient
    user: EndpointClient
    assistant: EndpointClient
    api: EndpointClient
    stop: EndpointClient

    @classmethod
    @contextlib.contextmanager
    def open(cls, cfg: SynthFCConfig):
        """`with Roles.open(cfg) as roles:` clients for every role, closed on exit."""
        with contextlib.ExitStack() as stack:
            yield cls(
                **{name: stack.enter_context(EndpointClient(*cfg.role(name))) for name in ROLE_DEFAULTS}
            )


def json_object(text: str | None) -> dict | None:
    """The last top-level JSON object in a reply (reasoning, prose and code fences around it ignored)."""
    text = _THINK.sub("", text or "")
    decoder = json.JSONDecoder()
    found, start = None, text.find("{")
    while start != -1:
        try:
            found, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            end = start + 1
        start = text.find("{", end)
    return found


def ask_json(client: EndpointClient, system: str, task: str, accept: Callable[[dict], bool]) -> dict | None:
    """Ask (a system prompt and one user message) for a JSON object; once more if the reply holds none
    that `accept`s. None if both fail."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": task}]
    for _ in range(2):
        obj = json_object(client.chat(messages).get("content"))
        if obj is not None and accept(obj):
            return obj
    return None


def is_verdict(obj: dict) -> bool:
    """A reviewer's `{"ok": bool, "feedback": str}`."""
    return isinstance(obj.get("ok"), bool)


def transcript(messages: list[dict], for_user: bool = False) -> str:
    """The conversation as plain text (no system prompt); `for_user` leaves out calls and tool results."""
    lines = []
    for m in messages:
        if m["role"] == "system" or (for_user and m["role"] == "tool"):
            continue
        if m["role"] == "tool":
            lines.append(f"[tool {m.get('name')}] {m['content']}")
            continue
        if m.get("content"):
            lines.append(f"[{m['role']}] {m['content']}")
        for call in [] if for_user else m.get("tool_calls") or []:
            fn = call["function"]
            lines.append(f"[assistant -> {fn['name']}] {json.dumps(fn['arguments'], ensure_ascii=False)}")
    return "\n".join(lines)
