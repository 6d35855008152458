"""`adapt synth-fc` against a scripted OpenAI-compatible endpoint (a TEST DOUBLE, no model): every role is
answered by a script chosen by the request's model name, so the flow, the checks and the output are tested,
not the quality of any LLM."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from adaptation.cli import adapt
from adaptation.sampling import EndpointConfig
from adaptation.synth_fc.blueprint import BLUEPRINT_JUDGE_PROMPT
from adaptation.synth_fc.config import SynthFCConfig
from adaptation.synth_fc.pipeline import build_synth_fc, pick_samples
from adaptation.synth_fc.roles import json_object
from adaptation.synth_fc.specs import PERSONAS, load_tools
from specstack.chat import conversation_messages
from specstack.errors import SpecstackError
from tests.fakes.scripted_chat import ScriptedChat

REPO = Path(__file__).resolve().parents[2]
ORDER_ID = {"type": "string", "pattern": "^[0-9]{8}$", "description": "Номер заказа, 8 цифр."}
TOOLS = [
    {"type": "function", "function": {"name": "get_order", "description": "Возвращает статус заказа.",
     "parameters": {"type": "object", "properties": {"order_id": ORDER_ID}, "required": ["order_id"],
                    "additionalProperties": False}}},
    {"type": "function", "function": {"name": "cancel_order", "description": "Отменяет заказ.",
     "parameters": {"type": "object", "properties": {"order_id": ORDER_ID, "reason": {"type": "string",
                    "enum": ["late", "changed_mind"]}}, "required": ["order_id", "reason"]}}},
]  # fmt: skip
GOOD_PLAN = [{"name": "get_order", "arguments": {"order_id": "12345678"}}]
BLUEPRINT = {
    "environment": "Заказ 12345678: диван, 15 000 ₽, отправлен. Отменять можно только неотправленные заказы.",
    "system_prompt": "Ты — ассистент маркетплейса. Отменяй только неотправленные заказы.",
    "user_goal": "Вы хотите узнать, где ваш заказ 12345678.",
}
DIALOGUE_ROLES = ["system", "user", "assistant", "tool", "assistant", "user", "assistant"]
PER_SAMPLE = {"generator": 2, "judge": 2, "user": 2, "assistant": 4, "api": 1, "stop": 2}  # requests


class World:
    """Scripted replies of every role, chosen by the request's model name; counts requests per role.

    Generator: a plan failing its schema first (the format check answers it), then a good one. Assistant: on
    the user's question a call failing its schema (re-asked), then a good `<tool_call>` block; after the tool
    result an answer in text. The user asks, then thanks; the stop decider stops after the thanks."""

    def __init__(self, blueprint_ok: bool = True, final_ok: bool = True, bad_first_plan: bool = True) -> None:
        self.blueprint_ok, self.final_ok, self.bad_first_plan = blueprint_ok, final_ok, bad_first_plan
        self.calls: Counter[str] = Counter()
        self.question_asked = 0

    def __call__(self, body: dict) -> str | dict:
        self.calls[body["model"]] += 1
        return getattr(self, body["model"])(body)

    def generator(self, body: dict) -> str:
        plan = [{"name": "get_order", "arguments": {"order_id": 12345678}}]
        if len(body["messages"]) > 2 or not self.bad_first_plan:
            plan = GOOD_PLAN
        blueprint = json.dumps({**BLUEPRINT, "plan": plan}, ensure_ascii=False)
        return f"Вот задача:\n```json\n{blueprint}\n```"

    def judge(self, body: dict) -> str:
        ok = self.blueprint_ok if body["messages"][0]["content"] == BLUEPRINT_JUDGE_PROMPT else self.final_ok
        verdict = json.dumps({"ok": ok, "feedback": "" if ok else "Цель неясна."}, ensure_ascii=False)
        return f"<think>проверяю {{план}}</think>{verdict}"

    def user(self, body: dict) -> str:
        seen = body["messages"][-1]["content"]
        return "Спасибо, понятно!" if "[assistant]" in seen else "Здравствуйте! Где мой заказ 12345678?"

    def assistant(self, body: dict) -> dict | str:
        assert [t["function"]["name"] for t in body["tools"]] == ["get_order", "cancel_order"]
        last = body["messages"][-1]
        if last["role"] == "tool":
            return "Заказ 12345678 отправлен и приедет завтра."
        if "Спасибо" in last["content"]:
            return "Пожалуйста! Обращайтесь."
        self.question_asked += 1
        if self.question_asked % 2:  # a wire-format call whose argument fails the schema's pattern
            bad = {"name": "get_order", "arguments": '{"order_id": "abc"}'}
            return {"content": None, "tool_calls": [{"id": "x", "type": "function", "function": bad}]}
        return 'Сейчас проверю.\n<tool_call>\n{"name": "get_order", "arguments": {"order_id": "12345678"}}\n</tool_call>'

    def api(self, body: dict) -> str:
        return 'Результат: {"order_id": "12345678", "status": "shipped", "eta": "завтра"}'

    def stop(self, body: dict) -> str:
        return json.dumps({"stop": "Спасибо" in body["messages"][-1]["content"]})


def config(url: str, **fields) -> SynthFCConfig:
    """Every role at one scripted endpoint, told apart by model name; both tools in every sample."""
    roles = {role: {"model": role} for role in PER_SAMPLE}
    return SynthFCConfig.model_validate({
        "endpoint": EndpointConfig(url=url, max_retries=0).model_dump(), "samples": 2, "min_tools": 2,
        "max_tools": 2, "workers": 1, **roles, **fields,
    })  # fmt: skip


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(TOOLS, ensure_ascii=False), encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_happy_path_writes_valid_sft_rows(tools_file: Path, tmp_path: Path):
    out = tmp_path / "synth.jsonl"
    world = World()
    with ScriptedChat(reply=world) as up:
        stats = build_synth_fc(tools_file, out, config(up.url))
        assert world.calls == Counter({role: 2 * n for role, n in PER_SAMPLE.items()})
        bodies = [r.body for r in up.received]
    assert (stats.samples, stats.kept, stats.blueprint_rounds) == (2, 2, {"2": 2})
    feedback = next(b for b in bodies if b["model"] == "generator" and len(b["messages"]) > 2)["messages"][-1]
    assert "plan[1]: get_order: order_id: 12345678 is not of type 'string'" in feedback["content"]
    # the assistant is sent OpenAI's wire form: call ids, arguments as strings, tool_call_id
    after_tool = next(b for b in bodies if b["model"] == "assistant" and b["messages"][-1]["role"] == "tool")
    call, result = after_tool["messages"][-2]["tool_calls"][0], after_tool["messages"][-1]
    assert json.loads(call["function"]["arguments"]) == {"order_id": "12345678"}
    assert result["tool_call_id"] == call["id"]

    rows = read_rows(out)
    assert len(rows) == 2 and rows[0]["tools"] == TOOLS and rows[0]["category"] == "fc"
    for i, row in enumerate(rows):
        messages = conversation_messages(row, f"row {i}")
        assert [m["role"] for m in messages] == DIALOGUE_ROLES
        schemas = {t["function"]["name"]: t["function"]["parameters"] for t in row["tools"]}
        calls = [c["function"] for m in messages for c in m.get("tool_calls") or []]
        assert calls == GOOD_PLAN
        for c in calls:
            jsonschema.validate(c["arguments"], schemas[c["name"]])
        assert messages[2]["content"] == "Сейчас проверю."
        assert messages[3]["name"] == "get_order"
        assert json.loads(messages[3]["content"])["status"] == "shipped"
    stats_file = json.loads((tmp_path / "synth.jsonl.stats.json").read_text())
    assert stats_file["kept"] == 2 and stats_file["dropped_blueprint"] == 0


def test_blueprint_rejected_five_times_is_dropped(tools_file: Path, tmp_path: Path):
    out = tmp_path / "synth.jsonl"
    world = World(blueprint_ok=False, bad_first_plan=False)
    with ScriptedChat(reply=world) as up:
        stats = build_synth_fc(tools_file, out, config(up.url, samples=1))
        last_ask = [r.body for r in up.received if r.body["model"] == "generator"][-1]["messages"]
    assert world.calls == Counter({"generator": 5, "judge": 5})
    assert "Цель неясна." in last_ask[-1]["content"] and len(last_ask) == 2 + 2 * 4
    assert (stats.kept, stats.dropped_blueprint, stats.blueprint_rounds) == (0, 1, {})
    assert out.read_text() == ""


def test_final_judge_rejection_is_dropped(tools_file: Path, tmp_path: Path):
    out = tmp_path / "synth.jsonl"
    with ScriptedChat(reply=World(final_ok=False)) as up:
        stats = build_synth_fc(tools_file, out, config(up.url, samples=1))
    assert (stats.kept, stats.dropped_final_judge, stats.blueprint_rounds) == (0, 1, {"2": 1})
    assert out.read_text() == ""
    done = read_rows(tmp_path / "synth.jsonl.done.jsonl")
    assert done[0]["result"] == {"drop": "final_judge", "rounds": 2, "why": "Цель неясна."}


def test_a_call_failing_its_schema_on_every_retry_drops_the_sample(tools_file: Path, tmp_path: Path):
    class Stubborn(World):
        def assistant(self, body: dict) -> str:
            call = {"name": "cancel_order", "arguments": {"order_id": "12345678", "reason": "bored"}}
            return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"

    world = Stubborn()
    with ScriptedChat(reply=world) as up:
        stats = build_synth_fc(
            tools_file, tmp_path / "s.jsonl", config(up.url, samples=1, assistant_retries=1)
        )
    assert world.calls["assistant"] == 2 and world.calls["api"] == 0 and stats.dropped_simulation == 1
    why = read_rows(tmp_path / "s.jsonl.done.jsonl")[0]["result"]["why"]
    assert why.startswith("assistant: cancel_order: reason: 'bored' is not one of")


def test_resume_after_a_kill_asks_nothing_for_finished_samples(tools_file: Path, tmp_path: Path):
    out = tmp_path / "synth.jsonl"
    per_sample = sum(PER_SAMPLE.values())
    world = World()

    def dies_mid_second_sample(body: dict) -> str | dict:
        if sum(world.calls.values()) == per_sample + 5:
            up.script.status = 500  # the endpoint goes away: this run stops with an error
        return world(body)

    with ScriptedChat(reply=dies_mid_second_sample) as up, pytest.raises(SpecstackError, match="HTTP 500"):
        build_synth_fc(tools_file, out, config(up.url, samples=3))
    done_file = tmp_path / "synth.jsonl.done.jsonl"
    assert len(read_rows(done_file)) == 1
    first = read_rows(done_file)[0]
    with done_file.open("a", encoding="utf-8") as f:
        f.write('{"key": "cut by a ki')  # a kill in the middle of a line

    world = World()
    with ScriptedChat(reply=world) as up:
        stats = build_synth_fc(tools_file, out, config(up.url, samples=3))
    assert sum(world.calls.values()) == 2 * per_sample
    assert stats.kept == 3 and read_rows(out)[0] == first["result"]["row"]
    lines = done_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and lines[1] == '{"key": "cut by a ki'  # the cut line stays, skipped


def test_picks_are_seeded_and_cover_tools_and_personas():
    cfg = SynthFCConfig(samples=20, seed=7, min_tools=1, max_tools=2, endpoint=EndpointConfig(url="http://x"))
    picks = pick_samples(TOOLS, list(PERSONAS), cfg)
    again = pick_samples(TOOLS, list(PERSONAS), cfg)
    assert [(p.tools, p.persona) for p in picks] == [(p.tools, p.persona) for p in again]
    assert {len(p.tools) for p in picks} == {1, 2} and len({p.persona for p in picks}) > 3
    assert len({p.key for p in picks}) == 20


def test_json_object_takes_the_last_object_around_prose():
    reply = 'думаю {"a": 1} итог: {"ok": true, "x": {"y": [1]}} всё'
    assert json_object(reply) == {"ok": True, "x": {"y": [1]}}
    assert json_object('<think>{"ok": false}</think> нет ответа') is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t["function"]["parameters"]["properties"]["order_id"].update(type="strng"),
         "tool get_order: function.parameters.properties.order_id.type: 'strng' is not valid"),
        (lambda t: t.update(type="retrieval"), "tool get_order: type: 'function' was expected"),
        (lambda t: t["function"].update(name="get order"), "tool get order: function.name: 'get order' does not match"),
        (lambda t: t["function"]["parameters"].update(type="array"), "tool get_order: function.parameters.type"),
    ],
)  # fmt: skip
def test_invalid_tool_spec_is_a_one_line_error_naming_the_tool(tmp_path: Path, change, expected: str):
    tools = json.loads(json.dumps(TOOLS))
    change(tools[0])
    path = tmp_path / "tools.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tools), encoding="utf-8")
    with pytest.raises(SpecstackError) as err:
        load_tools(path)
    assert str(err.value).startswith(f"{path}: {expected}") and "\n" not in str(err.value)
    assert load_tools_ok(tmp_path) == TOOLS


def load_tools_ok(tmp_path: Path) -> list[dict]:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"tools": TOOLS}), encoding="utf-8")
    return load_tools(path)


def test_cli_help_and_run_against_the_scripted_endpoint(tools_file: Path, tmp_path: Path):
    result = CliRunner().invoke(adapt, ["synth-fc", "--help"])
    assert result.exit_code == 0 and "--judge-url" in result.output and "--tools" in result.output
    run = tmp_path / "run.yaml"
    run.write_text("adapt:\n  synth_fc:\n    min_tools: 2\n    judge:\n      temperature: 0.1\n")
    with ScriptedChat(reply=World()) as up:
        args = ["synth-fc", "--config", str(run), "--out-dir", str(tmp_path), "--tools", str(tools_file),
                "--samples", "1", "--endpoint-url", up.url]  # fmt: skip
        for role in PER_SAMPLE:
            args += [f"--{role}-model", role]
        result = CliRunner().invoke(adapt, args)
        assert {r.body["temperature"] for r in up.received if r.body["model"] == "judge"} == {0.1}
    assert result.exit_code == 0, result.output
    assert "kept 1 of 1 samples" in result.output
    assert len(read_rows(tmp_path / "post" / "synth_fc.jsonl")) == 1


def test_cli_bad_tool_spec_is_one_line(tmp_path: Path):
    bad = tmp_path / "tools.json"
    bad.write_text(json.dumps([{"type": "function", "function": {"name": "get_order"}}]), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "specstack.cli", "adapt", "synth-fc", "--tools", str(bad), "--out-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = f"error: {bad}: tool get_order: function: 'parameters' is a required property"
    assert result.stderr.strip() == expected
