"""The demo corpus's content: valid tool calls, exact math answers, working code, Russian grammar helpers."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest

from specstack.demo.corpus import CorpusConfig, build_corpus, ru, tools
from specstack.demo.corpus.code_tasks import FAMILIES, make_code_task, make_code_task_for
from specstack.demo.corpus.common import item_rng
from specstack.demo.corpus.function_calling import ORDER_STATUS_RU, SITUATIONS, TELLERS, make_fc_example
from specstack.demo.corpus.math_problems import KINDS, make_math_problem
from specstack.io import read_jsonl

CONFIG = CorpusConfig(sft_train=600, rl_train=300, ru_text_bytes=0, en_text_bytes=0, code_text_bytes=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(CONFIG, out)
    return out


def _rows(corpus: Path, kind: str) -> list[dict]:
    return [r for part in ("train", "heldout") for r in read_jsonl(corpus / f"{kind}_{part}.jsonl")]


def _validate_call(name: str, args: dict, offered: list[dict]) -> None:
    by_name = {t["function"]["name"]: t for t in offered}
    assert name in by_name, f"{name} is not among the offered tools"
    assert by_name[name] == tools.SCHEMAS[name]
    jsonschema.Draft202012Validator(by_name[name]["function"]["parameters"]).validate(args)


def test_tool_schemas_are_valid_json_schema() -> None:
    required = {
        "search_items",
        "get_item",
        "create_listing",
        "get_delivery_status",
        "get_order",
        "cancel_order",
        "get_seller_rating",
        "calculate_delivery",
    }
    assert required <= set(tools.SCHEMAS)
    for schema in tools.SCHEMAS.values():
        assert schema["type"] == "function"
        jsonschema.Draft202012Validator.check_schema(schema["function"]["parameters"])


def test_sft_tool_calls_are_valid_and_answered(corpus: Path) -> None:
    fc = [r for r in _rows(corpus, "sft") if r["category"] == "fc"]
    with_calls = parallel = 0
    for row in fc:
        msgs = row["messages"]
        calls = [m for m in msgs if m.get("tool_calls")]
        if not calls:  # irrelevance: a plain answer, no tool traffic
            assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
            assert "<tool_call>" not in msgs[-1]["content"]
            continue
        with_calls += 1
        (turn,) = calls
        i = msgs.index(turn)
        parallel += len(turn["tool_calls"]) == 2
        for k, tc in enumerate(turn["tool_calls"]):
            assert tc["type"] == "function"
            _validate_call(tc["function"]["name"], tc["function"]["arguments"], row["tools"])
            result = msgs[i + 1 + k]
            assert result["role"] == "tool" and result["name"] == tc["function"]["name"]
            expected = tools.call(tc["function"]["name"], tc["function"]["arguments"])
            assert json.loads(result["content"]) == expected
        final = msgs[i + 1 + len(turn["tool_calls"])]
        assert final["role"] == "assistant" and final["content"] and final is msgs[-1]
    assert 0.7 < with_calls / len(fc) < 0.9
    assert parallel > 0


def test_rl_golden_calls_are_valid(corpus: Path) -> None:
    rows = [r for r in _rows(corpus, "rl") if r["domain"] == "fc"]
    seen = set()
    for row in rows:
        seen.add(row["category"])
        if row["category"] == "irrelevance":
            assert row["tool_calls"] == []
            continue
        n = 2 if row["category"] == "parallel" else 1
        assert len(row["tool_calls"]) == n
        if row["category"] == "simple":
            assert len(row["tools"]) == 1
        if row["category"] == "multiple":
            assert 2 <= len(row["tools"]) <= 3, "the right tool and one or two distractors"
        assert len(row["tools"]) <= 3, "at most three schemas, so whole tool-use turns fit the SFT length"
        for call in row["tool_calls"]:
            _validate_call(call["name"], call["arguments"], row["tools"])
    assert seen == set(SITUATIONS)


@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_generated_call_validates(situation: str) -> None:
    for i in range(150):
        ex = make_fc_example(item_rng(7, situation, i), situation)
        for name, args in ex.calls:
            _validate_call(name, args, ex.tool_schemas())
        assert ex.sample().messages[-1]["content"]


def test_tool_results_are_deterministic_functions_of_arguments() -> None:
    for i in range(100):
        ex = make_fc_example(item_rng(3, "det", i), "simple")
        ((name, args),) = ex.calls
        assert tools.call(name, args) == tools.call(name, json.loads(json.dumps(args)))


def test_cancel_and_tracking_agree_with_the_order() -> None:
    for i in range(200):
        order = f"{10_000_000 + i * 7919}"
        status = tools.get_order({"order_id": order})["status"]
        cancel = tools.cancel_order({"order_id": order, "reason": "изменились планы"})
        track = tools.get_delivery_status({"order_id": order})["status"]
        assert cancel["cancelled"] == (status == "paid")
        assert (track == "awaiting_shipment") == (status == "paid")
        assert (track == "delivered") == (status == "delivered")


def recompute(kind: str, p: dict[str, int]) -> Fraction:
    """The answer from the structured data, independently of the generator's code."""
    if kind == "discount":
        return Fraction(p["price"]) * (100 - p["percent"]) / 100
    if kind == "bulk":
        return Fraction(p["count"] * p["each"] + p["shipping"])
    if kind == "price_change":
        return Fraction(abs(p["new"] - p["old"]) * 100, p["old"])
    if kind == "split":
        return Fraction(p["total"] + p["shipping"], p["people"])
    if kind == "by_weight":
        return Fraction(p["base"] + p["per_kg"] * -(-p["grams"] // 1000))
    if kind == "commission":
        return Fraction(p["price"]) - Fraction(p["price"] * p["percent"], 100)
    if kind == "promo":
        return Fraction(p["price"] * (100 - p["percent"]), 100) - p["promo"]
    if kind == "budget":
        return Fraction(p["money"] // p["each"])
    if kind == "average":
        prices = [v for k, v in sorted(p.items()) if k.startswith("price")]
        return Fraction(sum(prices), len(prices))
    if kind == "installment":
        return Fraction(p["price"] * (100 + p["percent"]), 100 * p["months"])
    raise AssertionError(kind)


def parse_ru_number(text: str) -> Fraction:
    assert re.fullmatch(r"-?\d+(,\d{1,2})?", text), text
    return Fraction(text.replace(",", "."))


def _numbers_in_question(kind: str, p: dict[str, int], question: str) -> None:
    for key, value in p.items():
        if key == "grams":
            assert f"{value} г" in question or f"{ru.decimal(Fraction(value, 1000), 2)} кг" in question
        elif key == "people":
            assert question.startswith(f"{value} ")
        else:
            assert str(value) in question, (key, question)


def test_math_answers_match_an_independent_recomputation() -> None:
    kinds = set()
    for i in range(600):
        prob = make_math_problem(item_rng(11, "math", i))
        kinds.add(prob.kind)
        assert parse_ru_number(prob.answer_text) == recompute(prob.kind, prob.params)
        assert prob.solution.split("\n")[-1] == f"Ответ: {prob.answer_text}"
        _numbers_in_question(prob.kind, prob.params, prob.question)
    assert kinds == set(KINDS)


def test_math_rows_in_the_corpus(corpus: Path) -> None:
    for row in _rows(corpus, "rl"):
        if row["domain"] == "math":
            data = row["data"]
            assert parse_ru_number(row["answer"]) == recompute(data["kind"], data["params"])
    sft = [r for r in _rows(corpus, "sft") if r["category"] == "math"]
    assert sft
    for row in sft:
        last = row["messages"][-1]["content"].split("\n")[-1]
        assert re.fullmatch(r"Ответ: -?\d+(,\d{1,2})?", last), last


def _run(source: str) -> None:
    exec(compile(source, "<task>", "exec"), {"__name__": "task"})


def test_every_family_solution_passes_and_the_wrong_one_fails() -> None:
    for fam in FAMILIES:
        for i in range(15):
            task = make_code_task_for(item_rng(5, fam.key, i), fam)
            _run(task.solution + "\n\n" + task.tests)
            with pytest.raises(Exception):  # noqa: B017 - any failure of the wrong solution counts
                _run(task.wrong_solution + "\n\n" + task.tests)


def test_corpus_code_rows_pass_their_tests(corpus: Path) -> None:
    """SFT answers carry the solution; RL rows carry tests whose entry point the prompt names."""
    for row in _rows(corpus, "sft"):
        if row["category"] == "code":
            code = re.search(r"```python\n(.*?)\n```", row["messages"][-1]["content"], re.S)
            assert code
            compile(code.group(1), "<answer>", "exec")
    for row in _rows(corpus, "rl"):
        if row["domain"] == "code":
            assert f"`{row['entry_point']}(" in row["prompt"][-1]["content"]
            assert row["tests"].count("assert ") >= 2
            compile(row["tests"], "<tests>", "exec")


def test_a_task_runs_in_a_subprocess() -> None:
    task = make_code_task(item_rng(0, "sub", 0))
    ok = subprocess.run([sys.executable, "-c", task.solution + "\n\n" + task.tests], capture_output=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-c", task.wrong_solution + "\n\n" + task.tests], capture_output=True
    )
    assert bad.returncode != 0


def test_russian_helpers() -> None:
    assert [ru.count(n, ru.REVIEWS) for n in (1, 2, 5, 11, 21, 22, 25, 111)] == [
        "1 отзыв", "2 отзыва", "5 отзывов", "11 отзывов", "21 отзыв", "22 отзыва", "25 отзывов", "111 отзывов",
    ]  # fmt: skip
    assert ru.rub(9500) == "9500 ₽" and ru.rub(12500) == "12 500 ₽" and ru.rub(1250000) == "1 250 000 ₽"
    assert (
        ru.decimal(Fraction(5, 2)) == "2,5"
        and ru.decimal(Fraction(-1, 20)) == "-0,05"
        and ru.decimal(7) == "7"
    )
    assert ru.fixed(4, 1) == "4,0" and ru.fixed(Fraction(43, 10), 1) == "4,3"
    with pytest.raises(ValueError):
        ru.decimal(Fraction(1, 3))
    assert ru.v("Владивостоке") == "во Владивостоке" and ru.v("Волгограде") == "в Волгограде"
    assert ru.decap("Память") == "память" and ru.decap("GPS") == "GPS" and ru.decap("USB") == "USB"
    assert math.isclose(float(Fraction(ru.decimal(Fraction(314, 100)).replace(",", "."))), 3.14)


def test_every_backend_status_has_an_answer() -> None:
    assert set(ORDER_STATUS_RU) == set(tools.ORDER_STATUSES)
    for status in tools.DELIVERY_STATUSES:
        result = {
            "order_id": "12345678",
            "status": status,
            "location": "Казань",
            "date": "2025-06-05",
            "carrier": "DPD",
        }
        assert "12345678" in TELLERS["get_delivery_status"]({"order_id": "12345678"}, result)
