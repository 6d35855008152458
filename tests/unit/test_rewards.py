"""Rule-based rewards: table-driven cases for function calling, math answers and the code sandbox."""

from __future__ import annotations

import json
import socket
import time

import pytest

from adaptation.rewards import domain_reward, reward_for
from adaptation.rewards.code import (
    NO_CODE,
    SYNTAX_ERROR,
    TIMEOUT_PENALTY,
    VIOLATION,
    SandboxLimits,
    code_reward,
    code_score,
    run_candidate,
)
from adaptation.rewards.fc import fc_reward, fc_score
from adaptation.rewards.math import extract_answer, math_reward, math_score


def call(name: str, **arguments) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        + "\n</tool_call>"
    )


CITY = [{"name": "search_items", "arguments": {"query": "диван", "city": "Казань"}}]
PARALLEL = [
    {"name": "search_items", "arguments": {"query": "дорожка", "city": "Иркутск"}},
    {"name": "search_items", "arguments": {"query": "дорожка", "city": "Красноярск"}},
]
PRICE = [{"name": "create_listing", "arguments": {"title": "Стол", "price": 1500, "tags": ["a", "b"]}}]

FC_CASES = [
    ("exact", call("search_items", query="диван", city="Казань"), CITY, 1.0),
    ("argument order", call("search_items", city="Казань", query="диван"), CITY, 1.0),
    ("wrong value", call("search_items", query="диван", city="Москва"), CITY, 0.0),
    ("wrong name", call("get_item", query="диван", city="Казань"), CITY, 0.0),
    ("missing argument", call("search_items", query="диван"), CITY, 0.0),
    ("extra argument", call("search_items", query="диван", city="Казань", page=2), CITY, 0.0),
    ("text around, think ignored", "<think>\n" + call("get_item", item_id="1") + "\n</think>\nИщу.\n"
     + call("search_items", query="диван", city="Казань"), CITY, 1.0),
    ("no call when one is due", "Не знаю.", CITY, 0.0),
    ("arguments as JSON string", '<tool_call>\n{"name": "search_items", "arguments": '
     '"{\\"city\\": \\"Казань\\", \\"query\\": \\"диван\\"}"}\n</tool_call>', CITY, 1.0),
    ("parallel, same order", call("search_items", query="дорожка", city="Иркутск")
     + "\n" + call("search_items", query="дорожка", city="Красноярск"), PARALLEL, 1.0),
    ("parallel, other order", call("search_items", query="дорожка", city="Красноярск")
     + "\n" + call("search_items", query="дорожка", city="Иркутск"), PARALLEL, 1.0),
    ("parallel, one missing", call("search_items", query="дорожка", city="Иркутск"), PARALLEL, 0.0),
    ("parallel, one twice", call("search_items", query="дорожка", city="Иркутск") * 2, PARALLEL, 0.0),
    ("integer as float", call("create_listing", title="Стол", price=1500.0, tags=["a", "b"]), PRICE, 1.0),
    ("number as numeric string", call("create_listing", title="Стол", price="1500", tags=["a", "b"]), PRICE, 0.0),
    ("list order matters", call("create_listing", title="Стол", price=1500, tags=["b", "a"]), PRICE, 0.0),
    ("irrelevance, answered in text", "Предоплата на карту небезопасна.", [], 1.0),
    ("irrelevance, called anyway", call("search_items", query="пальто", city="Казань"), [], 0.0),
    ("irrelevance, golden as JSON text", "Нет подходящего инструмента.", "[]", 1.0),
    ("malformed JSON", '<tool_call>\n{"name": "search_items", "arguments": {"city": "Казань",}}\n</tool_call>',
     CITY, 0.0),
    ("malformed JSON, irrelevance", "<tool_call>\n{oops}\n</tool_call>", [], 0.0),
    ("unclosed block", '<tool_call>\n{"name": "search_items", "arguments": {}}', [], 0.0),
    ("no name", '<tool_call>\n{"arguments": {"city": "Казань"}}\n</tool_call>', CITY, 0.0),
    ("arguments not an object", '<tool_call>\n{"name": "search_items", "arguments": [1]}\n</tool_call>', CITY, 0.0),
    ("golden as JSON text", call("search_items", query="диван", city="Казань"), json.dumps(CITY), 1.0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("completion", "golden", "expected"), [c[1:] for c in FC_CASES], ids=[c[0] for c in FC_CASES]
)
def test_fc_score(completion, golden, expected):
    assert fc_score(completion, golden) == expected


def test_fc_reward_reads_conversational_completions_and_parsed_tool_calls():
    completions = [
        [{"role": "assistant", "content": call("search_items", city="Казань", query="диван")}],
        [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
            "name": "search_items", "arguments": '{"query": "диван", "city": "Казань"}'}}]}],
        [{"role": "assistant", "content": "Обычный ответ"}],
    ]  # fmt: skip
    assert fc_reward(completions, tool_calls=[CITY, CITY, json.dumps([])]) == [1.0, 1.0, 1.0]


MATH_CASES = [
    ("plain", "Решение...\nОтвет: 8410", "8410", 1.0),
    ("rouble sign and space groups", "Ответ: 8 410 ₽", "8410", 1.0),
    ("no-break space", "Ответ: 8\u00a0410 руб.", "8410", 1.0),
    ("narrow no-break space", "Ответ: 1\u202f250\u202f000 ₽", "1250000", 1.0),
    ("decimal comma vs comma", "Ответ: 2312,8", "2312,8", 1.0),
    ("decimal point vs comma", "Ответ: 2312.80", "2312,8", 1.0),
    ("units", "Ответ: 3,5 кг", "3,5", 1.0),
    ("comma is decimal in Russian", "Ответ: 1,250", "1250", 0.0),
    ("English thousands", "Answer: 1,250,000", "1250000", 1.0),
    ("expression before equals", "Ответ: 2 × 4030 + 350 = 8410 ₽", "8410", 1.0),
    ("last answer line wins", "Ответ: 100\nНет, пересчитаю.\nОтвет: 8410", "8410", 1.0),
    ("wrong", "Ответ: 8400", "8410", 0.0),
    ("rounded is wrong", "Ответ: 2313", "2312,8", 0.0),
    ("no answer line: last number", "2 × 4030 = 8060, плюс 350 — итого 8410.", "8410", 1.0),
    ("unicode minus", "Ответ: −15", "-15", 1.0),
    ("percent", "Ответ: 15%", "15", 1.0),
    ("fraction vs decimal", "Ответ: 1/2", "0,5", 1.0),
    ("latex vs decimal", "Ответ: $\\frac{1}{2}$", "0,5", 1.0),
    ("boxed", "Итак, \\boxed{42}", "42", 1.0),
    ("think ignored", "<think>Ответ: 1</think>\nОтвет: 2", "2", 1.0),
    ("no number at all", "Не знаю.", "5", 0.0),
]


@pytest.mark.parametrize(
    ("completion", "answer", "expected"), [c[1:] for c in MATH_CASES], ids=[c[0] for c in MATH_CASES]
)
def test_math_score(completion, answer, expected):
    assert math_score(completion, answer) == expected


def test_math_extract_and_reward_columns():
    assert extract_answer("Ответ: 1 250,5 ₽") == "1250.5"
    completions = [
        [{"role": "assistant", "content": "Ответ: 3,5 кг"}],
        [{"role": "assistant", "content": "4"}],
    ]
    assert math_reward(completions, answer=["3,5", "5"]) == [1.0, 0.0]


TESTS = "assert f(1) == 2\nassert f(2) == 3\nx = 5\nassert f(x) == 6\n"
FAST = SandboxLimits(timeout_s=1.0)


def fenced(code: str) -> str:
    return f"Вот решение:\n```python\n{code}```\nГотово."


CODE_CASES = [
    ("all pass", "def f(x):\n    return x + 1\n", 1.0),
    ("one of three", "def f(x):\n    return 2 if x == 1 else 0\n", 1 / 3),
    ("raises", "def f(x):\n    raise ValueError\n", 0.0),
    ("syntax error", "def f(x) return x", SYNTAX_ERROR),
    ("exits early", "import sys\nsys.exit(0)\n", 0.0),
    ("huge output", "print('x' * 10**7)\ndef f(x):\n    return x + 1\n", 0.0),
    ("huge memory", "a = bytearray(4 * 1024**3)\ndef f(x):\n    return x + 1\n", 0.0),
    ("writes in its temp dir", "open('a.txt', 'w').write('ok')\ndef f(x):\n    return x + 1\n", 1.0),
    ("standard library", "import collections, json, math, re\nfrom dataclasses import dataclass\n"
     "P = collections.namedtuple('P', 'a')\ndef f(x):\n    return x + 1\n", 1.0),
    ("forges results on open fds", "import os\nfor fd in range(3, 30):\n    try:\n        os.write(fd, b'pass 0\\n')\n"
     "    except OSError:\n        pass\ndef f(x):\n    return 0\n", 0.0),
    ("reads /etc/passwd", "def f(x):\n    open('/etc/passwd').read()\n    return x + 1\n", VIOLATION),
    ("lists /etc", "import os\nos.listdir('/etc')\ndef f(x):\n    return x + 1\n", VIOLATION),
    ("writes outside", "open('/tmp/specstack-escape.txt', 'w')\ndef f(x):\n    return x + 1\n", VIOLATION),
    ("runs a shell", "import os\nos.system('true')\ndef f(x):\n    return x + 1\n", VIOLATION),
    ("subprocess", "import subprocess\nsubprocess.run(['true'])\ndef f(x):\n    return x + 1\n", VIOLATION),
    ("ctypes", "import ctypes\ndef f(x):\n    return x + 1\n", VIOLATION),
]  # fmt: skip


@pytest.mark.parametrize(("code", "expected"), [c[1:] for c in CODE_CASES], ids=[c[0] for c in CODE_CASES])
def test_code_score(code, expected):
    assert code_score(fenced(code), TESTS, FAST) == pytest.approx(expected)


def test_code_without_a_block_is_penalised():
    assert code_score("def f(x): return x + 1", TESTS, FAST) == NO_CODE


def test_code_infinite_loop_is_killed_fast_and_penalised():
    start = time.monotonic()
    run = run_candidate("def f(x):\n    return x + 1\nassert f(0) == 1\nwhile True:\n    pass\n", TESTS, FAST)
    assert time.monotonic() - start < 3
    assert run.timed_out and run.passed == 0 and run.reward == -TIMEOUT_PENALTY
    # tests that passed before the loop still count
    run = run_candidate(
        "def f(x):\n    if x == 5:\n        while True:\n            pass\n    return x + 1\n", TESTS, FAST
    )
    assert run.timed_out and run.passed == 2
    assert run.reward == pytest.approx(2 / 3 - TIMEOUT_PENALTY)


def test_code_cannot_leak_a_file_through_its_output(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    code = f"def f(x):\n    return open({str(secret)!r}).read()\n"
    run = run_candidate(code, "assert f(1) == 'TOP-SECRET'\n", FAST)
    assert run.violation and run.violation.startswith("open") and run.reward == VIOLATION


@pytest.mark.parametrize("netns", [True, False], ids=["netns", "audit-hook-only"])
def test_code_socket_is_blocked_and_nothing_connects(netns: bool, monkeypatch):
    import adaptation.rewards.code as code_mod

    if not netns:  # where unprivileged namespaces are unavailable, the audit hook alone must block it
        monkeypatch.setattr(code_mod, "_netns_prefix", lambda: ())
    elif not code_mod._netns_prefix():
        pytest.skip("unshare -rn does not work here")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    code = (
        "def f(x):\n"
        f"    s = __import__('socket').create_connection(('127.0.0.1', {port}), timeout=1)\n"
        "    s.sendall(b'leak')\n    return x + 1\n"
    )
    try:
        run = run_candidate(code, TESTS, FAST)
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    assert run.violation and "socket" in run.violation and run.reward == VIOLATION


def test_reward_registry_and_domain_dispatch():
    completions = [
        call("search_items", query="диван", city="Казань"),
        "Ответ: 3,5",
        fenced("def f(x):\n    return x + 1\n"),
    ]
    rewards = domain_reward(
        completions,
        domain=["fc", "math", "code"],
        tool_calls=[json.dumps(CITY), None, None],
        answer=[None, "3,5", None],
        tests=[None, None, TESTS],
    )
    assert rewards == [1.0, 1.0, 1.0]
    assert reward_for("code") is code_reward
    metrics: dict[str, float] = {}
    completions = [fenced("def f(x):\n    return x\n"), "no code", fenced("def f(x) return")]
    rewards = code_reward(completions, tests=[TESTS] * 3, log_metric=metrics.__setitem__)
    assert rewards == [0.0, NO_CODE, SYNTAX_ERROR]
    assert metrics["code/no_code"] == pytest.approx(1 / 3) and metrics["code/syntax_error"] == pytest.approx(
        1 / 3
    )
    assert metrics["code/timeout"] == 0 and metrics["code/violation"] == 0


def test_evaluate_tasks_by_category_with_a_scripted_sampler():
    from adaptation.eval.tasks import evaluate_tasks

    class Scripted:
        """TEST DOUBLE sampler: a fixed answer per user message."""

        def __init__(self, answers: dict[str, str]) -> None:
            self.answers = answers

        def sample(self, messages, n, tools=None):
            return [[{"role": "assistant", "content": self.answers[messages[-1]["content"]]}]] * n

    rows = [
        {
            "prompt": [{"role": "user", "content": "a"}],
            "domain": "fc",
            "category": "simple",
            "tool_calls": CITY,
        },
        {
            "prompt": [{"role": "user", "content": "b"}],
            "domain": "fc",
            "category": "irrelevance",
            "tool_calls": [],
        },
        {
            "prompt": [{"role": "user", "content": "c"}],
            "domain": "fc",
            "category": "simple",
            "tool_calls": CITY,
        },
        {"prompt": [{"role": "user", "content": "d"}], "domain": "math", "answer": "3,5"},
        {"prompt": [{"role": "user", "content": "e"}], "domain": "code", "tests": TESTS},
    ]
    sampler = Scripted({"a": call("search_items", query="диван", city="Казань"), "b": "Нет.", "c": "Не знаю.",
                        "d": "Ответ: 3.5", "e": fenced("def f(x):\n    return 2 if x == 1 else 0\n")})  # fmt: skip
    result = evaluate_tasks(rows, sampler)
    assert result["fc"]["simple"] == 0.5 and result["fc"]["irrelevance"] == 1.0
    assert result["fc"]["all"] == pytest.approx(2 / 3) and result["fc"]["n_all"] == 3
    assert result["math"]["all"] == 1.0
    assert result["code"]["all"] == 0.0 and result["code"]["mean_reward"] == pytest.approx(1 / 3)


def test_math_reward_works_off_the_main_thread():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda a: math_score("Ответ: 3,5 кг", a), ["3,5", "4"])) == [1.0, 0.0]
