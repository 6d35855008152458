"""The blueprint of one dialogue (environment and policy, system prompt, user goal, planned calls): the
generator writes it, a format check and then the judge review it, and their feedback goes back to the
generator for at most `rounds` attempts."""

from __future__ import annotations

import json

from adaptation.synth_fc.roles import Roles, ask_json, is_verdict, json_object
from adaptation.synth_fc.specs import call_error, tool_name

TEXT_FIELDS = ("environment", "system_prompt", "user_goal")

GENERATOR_PROMPT = """You design one realistic task for the AI assistant of a Russian online marketplace that \
can call tools (function calling). You get the tools (OpenAI JSON schemas) and the persona of a user.
Write, in natural Russian:
- "environment": the state of the world the tools see (the concrete orders, listings, sellers, with their ids \
and values) and the policy the assistant must follow (what it may do, what it must confirm first);
- "system_prompt": the assistant's system prompt: its role and that policy;
- "user_goal": what this user wants, addressed to the user ("Вы хотите ..."), with every detail the user knows \
(ids, cities, prices), so that someone can play the user;
- "plan": the tool calls that reach the goal, in order, as [{"name": <tool>, "arguments": {...}}], using the \
given tools with arguments valid against their schemas and taken from the goal or the environment.
Reply with exactly one JSON object {"environment": ..., "system_prompt": ..., "user_goal": ..., "plan": [...]} \
and nothing after it."""

BLUEPRINT_JUDGE_PROMPT = """You review a blueprint for a synthetic function-calling dialogue of a Russian \
marketplace assistant. Check that: the goal is realistic for the persona and reachable with the tools; the plan \
uses the right tools, in a sensible order, with arguments that follow from the goal and the environment \
(nothing the user could not know); the system prompt states the environment's policy; all text is natural Russian.
Reply with exactly one JSON object and nothing after it: {"ok": true|false, "feedback": "<what to fix; empty \
when ok>"}."""


def blueprint_error(blueprint: dict, tools: dict[str, dict]) -> str | None:
    """Why a blueprint is malformed (missing fields, a planned call that fails its schema), or None."""
    for key in TEXT_FIELDS:
        if not isinstance(blueprint.get(key), str) or not blueprint[key].strip():
            return f"'{key}' must be a non-empty string"
    plan = blueprint.get("plan")
    if not isinstance(plan, list) or not plan:
        return "'plan' must be a non-empty list of calls"
    for i, call in enumerate(plan, 1):
        problem = call_error(call, tools) if isinstance(call, dict) else "not an object"
        if problem:
            return f"plan[{i}]: {problem}"
    return None


def task_text(tools: list[dict], persona: str) -> str:
    """What the generator is given: the tools and the persona."""
    return f"## Tools\n{json.dumps(tools, ensure_ascii=False, indent=1)}\n\n## Persona\n{persona}"


def make_blueprint(roles: Roles, tools: list[dict], persona: str, rounds: int) -> tuple[dict | None, int]:
    """`(blueprint, rounds used)`; the blueprint is None when no attempt passed format check and judge."""
    by_name = {tool_name(t): t for t in tools}
    task = task_text(tools, persona)
    messages = [{"role": "system", "content": GENERATOR_PROMPT}, {"role": "user", "content": task}]
    for attempt in range(1, rounds + 1):
        reply = roles.generator.chat(messages).get("content") or ""
        blueprint = json_object(reply)
        problem = "no JSON object in the reply" if blueprint is None else blueprint_error(blueprint, by_name)
        if problem is None:
            review = f"{task}\n\n## Blueprint\n{json.dumps(blueprint, ensure_ascii=False, indent=1)}"
            verdict = ask_json(roles.judge, BLUEPRINT_JUDGE_PROMPT, review, is_verdict)
            if verdict is not None and verdict["ok"]:
                return blueprint, attempt
            problem = str(verdict.get("feedback") or "rejected") if verdict else "the review was unreadable"
        messages += [
            {"role": "assistant", "content": reply},
            {
                "role": "user",
                "content": f"## Feedback\n{problem}\n\nWrite the whole JSON object again, fixed.",
            },
        ]
    return None, rounds
