"""`specstack eval`: the table and JSON on the tiny model, an endpoint for the task answers, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptation.corpus import DOC_SEPARATOR
from specstack.cli import main
from specstack.io import write_jsonl
from tests.fakes.scripted_chat import ScriptedChat

SEARCH = {"type": "function", "function": {"name": "search_items", "description": "Ищет объявления.",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "city": {"type": "string"}},
                         "required": ["query"]}}}  # fmt: skip
FAVORITE = {"type": "function", "function": {"name": "add_to_favorites", "description": "В избранное.",
            "parameters": {"type": "object", "properties": {"item_id": {"type": "string"}},
                           "required": ["item_id"]}}}  # fmt: skip


def fc_row(category: str, text: str, calls: list[dict], tools: list[dict]) -> dict:
    return {"prompt": [{"role": "user", "content": text}], "domain": "fc", "category": category,
            "tools": tools, "tool_calls": calls}  # fmt: skip


RL_ROWS = [
    fc_row("simple", "Найди диван.", [{"name": "search_items", "arguments": {"query": "диван"}}], [SEARCH]),
    fc_row(
        "multiple",
        "Сохрани 1234567890.",
        [{"name": "add_to_favorites", "arguments": {"item_id": "1234567890"}}],
        [SEARCH, FAVORITE],
    ),
    fc_row(
        "parallel",
        "Найди диван в Казани и в Сочи.",
        [{"name": "search_items", "arguments": {"query": "диван", "city": c}} for c in ("Казань", "Сочи")],
        [SEARCH],
    ),
    fc_row("irrelevance", "Какая погода?", [], [SEARCH]),
    fc_row("simple", "Найди стул.", [{"name": "search_items", "arguments": {"query": "стул"}}], [SEARCH]),
    {"prompt": [{"role": "user", "content": "Сколько будет 7 / 2?"}], "domain": "math", "answer": "3,5"},
    {
        "prompt": [{"role": "user", "content": "Напиши f(x) = 2x."}],
        "domain": "code",
        "tests": "assert f(2) == 4\n",
    },
    {"prompt": [{"role": "user", "content": "Лишняя строка."}], "domain": "math", "answer": "1"},
]
CHAT_ROWS = [
    {"messages": [{"role": "user", "content": "Велосипед ещё продаётся?"},
                  {"role": "assistant", "content": "Да, продаётся. Можно посмотреть завтра."}]},
    {"messages": [{"role": "system", "content": "Ты помощник продавца."},
                  {"role": "user", "content": "Найди диван."},
                  {"role": "assistant", "content": "", "tool_calls": [
                      {"type": "function", "function": {"name": "search_items", "arguments": {"query": "диван"}}}]}],
     "tools": [SEARCH]},
    {"conversations": [{"from": "human", "value": "Привет!"}, {"from": "gpt", "value": "Здравствуйте!"}]},
]  # fmt: skip
TEXTS = {
    "ru": ["Продаю велосипед в Москве за 15 000 ₽.", "Скидка 15% от 2 000 ₽ составляет 300 ₽."],
    "en": ["The seller shipped the order on Monday.", "Delivery takes three to five days."],
    "code": ["def total(items):\n    return sum(items)\n"],
}


def jsonl(path: Path, rows: list[dict]) -> Path:
    write_jsonl(path, rows)
    return path


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "text"
    text.mkdir()
    for lang, docs in TEXTS.items():
        (text / f"{lang}_heldout.txt").write_text(DOC_SEPARATOR.join(docs), encoding="utf-8")
    (text / "ru_train.txt").write_text("не held-out: не читается", encoding="utf-8")
    return {
        "rl": jsonl(tmp_path / "rl.jsonl", RL_ROWS),
        "chat": jsonl(tmp_path / "chat.jsonl", CHAT_ROWS),
        "text": text,
    }


def data_args(data: dict[str, Path]) -> list[str]:
    return ["--rl-data", str(data["rl"]), "--chat-data", str(data["chat"]), "--text-dir", str(data["text"])]


def test_table_and_json_for_two_checkpoints(
    tiny_model_dir: Path, data: dict[str, Path], tmp_path: Path, capsys
):
    out = tmp_path / "out"
    argv = ["eval", "--model", f"base={tiny_model_dir}", "--model", f"sft={tiny_model_dir}", *data_args(data),
            "--max-prompts", "7", "--max-new-tokens", "8", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    table = (out / "eval.md").read_text(encoding="utf-8")
    assert printed == table

    assert report["data"] == {"rl_prompts": 7, "chat_conversations": 3,
                              "text_documents": {"ru": 2, "en": 2, "code": 1}}  # fmt: skip
    assert report["settings"] == {"decoding": "greedy", "max_new_tokens": 8}
    assert [c["name"] for c in report["checkpoints"]] == ["base", "sft"]
    first, second = report["checkpoints"]
    tasks = first["tasks"]
    assert {k: tasks["fc"][f"n_{k}"] for k in ("simple", "multiple", "parallel", "irrelevance", "all")} == {
        "simple": 2, "multiple": 1, "parallel": 1, "irrelevance": 1, "all": 5}  # fmt: skip
    assert (
        tasks["math"]["n_all"] == 1 and tasks["code"]["n_all"] == 1
    )  # --max-prompts 7 drops the 2nd math row
    for domain in tasks.values():
        for key, value in domain.items():
            if not key.startswith("n_") and key != "mean_reward":
                assert 0.0 <= value <= 1.0, (key, value)
    assert first["chat"]["perplexity"] > 1 and first["chat"]["tokens"] > 0
    assert list(first["text"]) == ["ru", "en", "code"] == list(first["density"])
    assert all(v["perplexity"] > 1 for v in first["text"].values())
    assert all(v["chars_per_token"] > 0 and v["tokens"] > 0 for v in first["density"].values())
    # the same directory twice, greedy: the same numbers
    for part in ("tasks", "chat", "text", "density"):
        assert first[part] == second[part]

    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["checkpoint", "FC simple", "FC multiple", "FC parallel", "FC irrelevance", "FC all", "math",
                      "code", "chat PPL", "ru PPL", "en PPL", "code PPL", "ru chars/tok", "en chars/tok",
                      "code chars/tok"]  # fmt: skip
    rows = [line for line in lines[2:] if line.startswith("|")]
    assert [r.split("|")[1].strip() for r in rows] == ["base", "sft"]
    assert all(len(r.strip("|").split("|")) == len(header) for r in rows)
    assert f"{first['chat']['perplexity']:.2f}" in rows[0]
    assert "FC prompts: simple 2, multiple 1, parallel 1, irrelevance 1, all 5; math prompts: 1" in table


def test_task_answers_from_an_endpoint(tiny_model_dir: Path, data: dict[str, Path], tmp_path: Path, capsys):
    math_only = jsonl(tmp_path / "math.jsonl", [r for r in RL_ROWS if r["domain"] == "math"])
    with ScriptedChat(reply=lambda body: "Решение: 7 / 2.\nОтвет: 3,5") as chat:
        argv = ["eval", "--model", f"m={tiny_model_dir}", "--endpoint", f"m={chat.url}", "--rl-data", str(math_only),
                "--max-new-tokens", "16", "--out", str(tmp_path / "out")]  # fmt: skip
        assert main(argv) == 0
        bodies = [r.body for r in chat.received]
    report = json.loads((tmp_path / "out" / "eval.json").read_text(encoding="utf-8"))
    entry = report["checkpoints"][0]
    assert entry["tasks"] == {"math": {"all": 0.5, "n_all": 2}}  # 3,5 is right for one of the two rows
    assert "chat" not in entry and entry["text"] == {}
    assert len(bodies) == 2
    assert all(b["temperature"] == 0.0 and b["max_tokens"] == 16 for b in bodies)
    assert all(b["model"] == tiny_model_dir.name for b in bodies)
    assert "| m | 50.0 |" in capsys.readouterr().out


def error_cases(tmp_path: Path, model: Path, data: dict[str, Path]) -> list[tuple[list[str], str]]:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    bad_row = jsonl(tmp_path / "bad.jsonl", [{"prompt": "x", "domain": "fc"}])
    no_text = tmp_path / "no_text"
    no_text.mkdir()
    out = ["--out", str(tmp_path / "out")]
    return [
        (["--model", f"m={tmp_path / 'nope'}", *data_args(data), *out], "no HF model directory"),
        (["--model", str(model), *data_args(data), *out], "expected NAME=DIR"),
        (["--model", f"m={model}", "--model", f"m={model}", *data_args(data), *out], "'m' is given twice"),
        (["--model", f"m={model}", "--endpoint", "x=http://127.0.0.1:9", *data_args(data), *out], "no --model named"),
        (["--model", f"m={model}", *out], "nothing to evaluate"),
        (["--model", f"m={model}", "--rl-data", str(empty), *out], "no RL prompts in the file"),
        (["--model", f"m={model}", "--chat-data", str(empty), *out], "no conversations in the file"),
        (["--model", f"m={model}", "--rl-data", str(bad_row), *out], "row 1: expected a 'prompt' message list"),
        (["--model", f"m={model}", "--rl-data", str(tmp_path / "missing.jsonl"), *out], "no such file"),
        (["--model", f"m={model}", "--text-dir", str(no_text), *out], "no *_heldout.txt files"),
        (["--model", f"m={model}", "--text-dir", str(tmp_path / "nodir"), *out], "no such directory"),
        (["--model", f"m={model}", "--rl-data", str(data["rl"]), "--max-prompts", "0", *out], "x>=1"),
    ]  # fmt: skip


def test_bad_input_is_a_one_line_error(tiny_model_dir: Path, data: dict[str, Path], tmp_path: Path, capsys):
    for args, message in error_cases(tmp_path, tiny_model_dir, data):
        code = main(["eval", *args])
        err = capsys.readouterr().err
        assert code != 0, args
        assert err.startswith("error: ") and err.strip().count("\n") == 0, err
        assert message in err, (message, err)
    assert not (tmp_path / "out").exists()


def test_a_prompt_limit_takes_every_domain_and_category_in_turn():
    from adaptation.eval.inputs import balanced_subset

    rows = [{"domain": "math", "i": i} for i in range(6)]
    rows += [
        {"domain": "fc", "category": c, "i": 6 + i} for i, c in enumerate(["simple"] * 3 + ["irrelevance"])
    ]
    rows += [{"domain": "code", "i": 10}]
    picked = balanced_subset(rows, 5)
    assert [r["i"] for r in picked] == [
        0,
        1,
        6,
        9,
        10,
    ]  # math x2, fc simple, fc irrelevance, code; file order
    assert balanced_subset(rows, None) == rows == balanced_subset(rows, 99)
    assert len(balanced_subset(rows, 10)) == 10
