"""Play one dialogue from a blueprint, turn by turn, with separate roles: the user simulator (the persona
pursuing the goal), the assistant (given the tools; each call is checked against its schema and the assistant
is re-asked after a bad one), the API emulator (a JSON result per call, consistent with the environment) and
the stop decider (after each answer: is the dialogue over?); then the judge's review of the whole dialogue.

Messages are kept in the corpus form (tool-call arguments as objects, tool results with the tool's `name`)
and sent to the assistant in OpenAI's wire form (call ids, arguments as JSON strings, `tool_call_id`).
"""

from __future__ import annotations

import json
import re

from adaptation.rewards.fc import MalformedCall, parse_tool_calls
from adaptation.synth_fc.config import SynthFCConfig
from adaptation.synth_fc.roles import Roles, ask_json, is_verdict, transcript
from adaptation.synth_fc.specs import call_error, tool_name

_BLOCK = re.compile(r"\s*<tool_call>.*?</tool_call>\s*", re.S)

USER_PROMPT = """You play a user of a Russian online marketplace who is chatting with its AI assistant.
Persona: {persona}
Your goal: {goal}
Write only your next message to the assistant, in Russian, in the persona's voice: short and natural; give \
details (ids, cities, prices) when they are needed or asked for; keep to your goal; never play the assistant."""

API_PROMPT = """You emulate the backend API of a Russian online marketplace. Given the environment, a tool's \
schema, the conversation so far and one call, reply with the JSON object the real API would return: \
consistent with the environment and earlier results, with realistic values, and {"error": "..."} when the call \
refers to something that does not exist or is not allowed. Reply with exactly one JSON object and nothing else."""

STOP_PROMPT = """You watch a dialogue between a user and a marketplace assistant and decide whether it is \
over: the user's goal is reached, or the assistant has clearly done all it can (the policy forbids it, the goal \
is impossible), or the user has said goodbye. Reply with exactly one JSON object: {"stop": true|false}."""

FINAL_JUDGE_PROMPT = """You review a synthetic dialogue of a Russian marketplace assistant that calls tools. \
Pass it only if: the assistant reached the user's goal or rightly declined it under the policy; every call is \
needed, uses the right tool, takes its arguments from the conversation (nothing made up) and follows the \
policy; the answers agree with the tool results and are in fluent, natural Russian; the user stays in persona.
Reply with exactly one JSON object and nothing after it: {"ok": true|false, "feedback": "<the problems; empty \
when ok>"}."""


class Dropped(Exception):
    """The dialogue cannot be used (a role failed to produce a usable turn); the message says why."""


def wire_messages(messages: list[dict]) -> list[dict]:
    """Corpus-form messages as OpenAI sends them: call ids, arguments as JSON strings, `tool_call_id`s."""
    out, pending, count = [], [], 0
    for message in messages:
        message = dict(message)
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                count += 1
                pending.append(f"call_{count}")
                fn = call["function"]
                arguments = json.dumps(fn["arguments"], ensure_ascii=False)
                calls.append({"id": pending[-1], "type": "function",
                              "function": {"name": fn["name"], "arguments": arguments}})  # fmt: skip
            message["tool_calls"] = calls
        elif message["role"] == "tool":
            message["tool_call_id"] = pending.pop(0)
        out.append(message)
    return out


def read_calls(reply: dict) -> list[dict]:
    """The `{"name", "arguments": {...}}` calls of a reply (parsed `tool_calls` or `<tool_call>` blocks)."""
    calls = []
    for call in parse_tool_calls(reply):
        arguments = call.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as e:
                raise MalformedCall(f"arguments are not JSON: {e}") from None
        calls.append({"name": call.get("name"), "arguments": arguments})
    return calls


def assistant_turn(roles: Roles, messages: list[dict], tools: list[dict], retries: int) -> dict:
    """The assistant's next message in corpus form; re-asked after a call that fails its tool's schema."""
    by_name = {tool_name(t): t for t in tools}
    problem = ""
    for _ in range(retries + 1):
        reply = roles.assistant.chat(wire_messages(messages), tools)
        try:
            calls = read_calls(reply)
        except MalformedCall as e:
            problem = str(e)
            continue
        problem = next((p for c in calls if (p := call_error(c, by_name))), "")
        text = _BLOCK.sub("\n", reply.get("content") or "").strip()
        if not problem and (calls or text):
            message = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [{"type": "function", "function": c} for c in calls]
            return message
        problem = problem or "an empty reply"
    raise Dropped(f"assistant: {problem}")


def api_result(roles: Roles, blueprint: dict, tool: dict, call: dict, messages: list[dict]) -> str:
    """The emulated result of one call, as the tool message's JSON content."""
    task = (
        f"## Environment\n{blueprint['environment']}\n\n## Tool\n{json.dumps(tool, ensure_ascii=False)}\n\n"
        f"## Conversation so far\n{transcript(messages)}\n\n## Call\n{json.dumps(call, ensure_ascii=False)}"
    )
    result = ask_json(roles.api, API_PROMPT, task, lambda _: True)
    if result is None:
        raise Dropped(f"api: no JSON result for {call['name']}")
    return json.dumps(result, ensure_ascii=False)


def should_stop(roles: Roles, goal: str, messages: list[dict]) -> bool:
    """The stop decider's verdict (an unreadable one means: go on)."""
    task = f"## User goal\n{goal}\n\n## Dialogue\n{transcript(messages)}"
    verdict = ask_json(roles.stop, STOP_PROMPT, task, lambda v: isinstance(v.get("stop"), bool))
    return bool(verdict and verdict["stop"])


def simulate(
    roles: Roles, blueprint: dict, persona: str, tools: list[dict], cfg: SynthFCConfig
) -> list[dict]:
    """The dialogue's messages (system prompt first); Dropped when it cannot be finished."""
    by_name = {tool_name(t): t for t in tools}
    goal = blueprint["user_goal"]
    user_system = USER_PROMPT.format(persona=persona, goal=goal)
    messages = [{"role": "system", "content": blueprint["system_prompt"]}]
    for _ in range(cfg.max_turns):
        seen = transcript(messages, for_user=True) or "(the dialogue has not started)"
        said = roles.user.chat(
            [
                {"role": "system", "content": user_system},
                {"role": "user", "content": f"## Dialogue\n{seen}\n\nYour next message:"},
            ]
        )
        text = (said.get("content") or "").strip()
        if not text:
            raise Dropped("user: an empty message")
        messages.append({"role": "user", "content": text})
        for tool_round in range(cfg.max_tool_rounds + 1):
            reply = assistant_turn(roles, messages, tools, cfg.assistant_retries)
            messages.append(reply)
            if "tool_calls" not in reply:
                break
            if tool_round == cfg.max_tool_rounds:
                raise Dropped(f"assistant: still calling tools after {cfg.max_tool_rounds} rounds")
            for call in [c["function"] for c in reply["tool_calls"]]:
                content = api_result(roles, blueprint, by_name[call["name"]], call, messages)
                messages.append({"role": "tool", "name": call["name"], "content": content})
        if should_stop(roles, goal, messages):
            return messages
    raise Dropped(f"not over after {cfg.max_turns} user turns")


def review_dialogue(roles: Roles, blueprint: dict, persona: str, messages: list[dict]) -> tuple[bool, str]:
    """The judge's `(ok, feedback)` on the finished dialogue (an unreadable verdict fails it)."""
    plan = json.dumps(blueprint["plan"], ensure_ascii=False)
    task = (
        f"## Persona\n{persona}\n\n## Environment and policy\n{blueprint['environment']}\n\n"
        f"## User goal\n{blueprint['user_goal']}\n\n## Planned calls\n{plan}\n\n## Dialogue\n{transcript(messages)}"
    )
    verdict = ask_json(roles.judge, FINAL_JUDGE_PROMPT, task, is_verdict)
    if verdict is None:
        return False, "the review was unreadable"
    return verdict["ok"], str(verdict.get("feedback") or "")
