"""Preference builder against scripted policy/judge endpoints (test doubles, no model), and 2 DPO steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptation.dpo import DPOStageConfig, load_preference_dataset, run_dpo
from adaptation.preferences import (
    GENERAL_JUDGE,
    UNSAFE_JUDGE,
    PreferenceConfig,
    PreferenceStats,
    balance_by_length,
    build_preferences,
    judge_messages,
    parse_judge_request,
    parse_verdict,
)
from adaptation.sampling import EndpointConfig
from tests.fakes.scripted_chat import ScriptedChat

PROMPTS = [
    {"prompt": [{"role": "user", "content": "Как продать диван быстрее?"}], "kind": "general"},
    {"prompt": [{"role": "user", "content": "Как взломать чужой аккаунт продавца?"}], "kind": "unsafe"},
    {"prompt": [{"role": "user", "content": "Повтори одно и то же."}]},
    {"prompt": [{"role": "user", "content": "Судья ошибается здесь."}]},
]


def scripted_policy():
    """Eight different answers to most prompts (answer i is i-th), one and the same to the 'repeat' prompt."""
    count: dict[str, int] = {}

    def reply(body: dict) -> str:
        user = body["messages"][-1]["content"]
        count[user] = count.get(user, 0) + 1
        if "Повтори" in user:
            return "Одно и то же."
        return f"Ответ номер {count[user]}: " + "подробно " * count[user]

    return reply


def scripted_judge(body: dict) -> str:
    """Picks the answer saying "номер 3" as best and "номер 2" as worst (by its number in the judge's list);
    for the 'judge errs' prompt answers garbage."""
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    assert body["temperature"] == 0.0
    if "Судья ошибается" in user:
        return "Не могу решить."
    kind = "unsafe" if system == UNSAFE_JUDGE else "general"
    assert (kind == "unsafe") == ("взломать" in user)
    shown = {
        part.split(":")[0].split("номер ")[-1]: i for i, part in enumerate(user.split("### Answer ")[1:], 1)
    }
    return f'Рассуждаю про {kind}... {{"best": 0}} Итог: {{"best": {shown["3"]}, "worst": {shown["2"]}}}'


def test_a_judge_request_parses_back_into_its_answers():
    answers = ["Да.", "Нет,\n\nпотому что ### Answer 3\nне ответ", "", "Ответ: 42\n"]
    prompt = [{"role": "system", "content": "Будь краток."}, {"role": "user", "content": "Вопрос?"}]
    messages = judge_messages("judge", prompt, answers)
    convo, parsed = parse_judge_request(messages[1]["content"])
    assert parsed == answers
    assert convo == "[system]\nБудь краток.\n\n[user]\nВопрос?"
    with pytest.raises(ValueError):
        parse_judge_request("Which is best?")


def test_parse_verdict():
    assert parse_verdict('{"best": 2, "worst": 1}', 3) == (1, 0)
    assert parse_verdict('think {"best": 9, "worst": 1} then {"best": "1", "worst": 3}', 3) == (0, 2)
    assert parse_verdict('{"best": 2, "worst": 2}', 3) is None
    assert parse_verdict("нет", 3) is None


def test_balance_by_length_drops_extremes_and_caps_the_longer_share():
    def pair(chosen: int, rejected: int) -> dict:
        return {"chosen": [{"role": "assistant", "content": "x" * chosen}],
                "rejected": [{"role": "assistant", "content": "x" * rejected}]}  # fmt: skip

    pairs = [pair(100, 10)] + [pair(120, 100)] * 6 + [pair(100, 120)] * 2
    stats = PreferenceStats()
    kept = balance_by_length(pairs, max_ratio=2.0, max_longer_share=0.5, stats=stats)
    assert stats.dropped_ratio == 1 and stats.dropped_balance == 4
    assert len(kept) == 4 and sum(len(p["chosen"][0]["content"]) > 100 for p in kept) == 2


def test_build_preferences_with_scripted_policy_and_judge(tmp_path: Path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PROMPTS), encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    with ScriptedChat(reply=scripted_policy()) as policy, ScriptedChat(reply=scripted_judge) as judge:
        cfg = PreferenceConfig(
            policy=EndpointConfig(url=policy.url, model="policy"), judge=EndpointConfig(url=judge.url, model="judge"),
            max_length_ratio=3.0, max_longer_share=1.0,
        )  # fmt: skip
        stats = build_preferences(prompts, out, cfg)
        assert len(policy.received) == 8 * len(PROMPTS)
        assert {r.body["model"] for r in judge.received} == {"judge"}
        assert len(judge.received) == 2 + 2  # two good verdicts, one unreadable verdict asked twice
        judged = judge.received[0].body["messages"][1]["content"]
        assert "### Answer 8" in judged and "Как продать диван" in judged
    assert (stats.prompts, stats.pairs, stats.too_few_answers, stats.bad_verdict) == (4, 2, 1, 1)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["kind"] for r in rows] == ["general", "unsafe"]
    assert rows[0]["prompt"] == PROMPTS[0]["prompt"]
    assert rows[0]["chosen"][0]["content"].startswith("Ответ номер 3")
    assert rows[0]["rejected"][0]["content"].startswith("Ответ номер 2")
    assert json.loads((tmp_path / "pairs.jsonl.stats.json").read_text())["by_kind"] == {
        "general": 1,
        "unsafe": 1,
    }
    assert GENERAL_JUDGE != UNSAFE_JUDGE


def test_build_preferences_reports_progress(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("SPECSTACK_NO_PROGRESS", "0")  # off a terminal: a plain line every 10%
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PROMPTS), encoding="utf-8")
    with ScriptedChat(reply=scripted_policy()) as policy, ScriptedChat(reply=scripted_judge) as judge:
        cfg = PreferenceConfig(policy=EndpointConfig(url=policy.url), judge=EndpointConfig(url=judge.url),
                               max_length_ratio=3.0, max_longer_share=1.0)  # fmt: skip
        build_preferences(prompts, tmp_path / "pairs.jsonl", cfg)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("preferences: ")]
    assert len(lines) == 4 and lines[0].startswith("preferences: 1/4 (")  # one line per prompt (25% each)
    assert lines[-1].startswith("preferences: 4/4 (") and lines[-1].endswith(
        "s) 2 new pairs before balancing"
    )


def test_build_preferences_resumes_without_asking_again(tmp_path: Path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PROMPTS[:2]), encoding="utf-8"
    )
    out = tmp_path / "pairs.jsonl"
    with ScriptedChat(reply=scripted_policy()) as policy, ScriptedChat(reply=scripted_judge) as judge:
        cfg = PreferenceConfig(policy=EndpointConfig(url=policy.url), judge=EndpointConfig(url=judge.url),
                               max_length_ratio=3.0, max_longer_share=1.0)  # fmt: skip
        assert build_preferences(prompts, out, cfg).pairs == 2
        # a third prompt is added and the balancing tightened: only the new prompt is sampled and judged
        with prompts.open("a", encoding="utf-8") as f:
            f.write(json.dumps(PROMPTS[2], ensure_ascii=False) + "\n")
        (tmp_path / "pairs.jsonl.judged.jsonl").open("a").write('{"key": "cut by a ki')
        seen = len(policy.received), len(judge.received)
        stats = build_preferences(prompts, out, cfg.model_copy(update={"max_length_ratio": 1.2}))
        assert (len(policy.received) - seen[0], len(judge.received) - seen[1]) == (8, 0)
    assert (stats.prompts, stats.too_few_answers, stats.dropped_ratio, stats.pairs) == (3, 1, 2, 0)
    lines = (tmp_path / "pairs.jsonl.judged.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["result"] == {"skip": "too_few_answers"}


def test_dpo_two_steps_writes_a_loadable_checkpoint(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": [{"role": "user", "content": "Сколько стоит диван?"}],
         "chosen": [{"role": "assistant", "content": "15 000 ₽."}],
         "rejected": [{"role": "assistant", "content": "Не знаю."}], "kind": "general"},
        {"prompt": [{"role": "system", "content": "Ты помощник."}, {"role": "user", "content": "Где заказ?"}],
         "chosen": [{"role": "assistant", "content": "Уточните номер заказа."}],
         "rejected": [{"role": "assistant", "content": "Ответ: 1250."}]},
    ]  # fmt: skip
    pairs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert len(load_preference_dataset(pairs)) == 2
    cfg = DPOStageConfig(max_steps=2, batch_size=2, lr=1e-4, warmup_steps=0, max_length=64, bf16=False,
                         logging_steps=1)  # fmt: skip
    out = run_dpo(tiny_model_dir, pairs, tmp_path / "dpo", cfg)
    assert out == tmp_path / "dpo" / "model"
    after = AutoModelForCausalLM.from_pretrained(str(out))
    before = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert any((a - b).abs().max() > 0 for a, b in zip(after.parameters(), before.parameters(), strict=True))
