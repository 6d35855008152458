"""The demo's stand-in judge (not a model) behind the real preference builder: it picks the answer closest
to the corpus reference as best and the farthest as worst, and gives no verdict without a reference."""

from __future__ import annotations

import json
from pathlib import Path

from adaptation.preferences import PreferenceConfig, build_preferences, judge_messages
from adaptation.sampling import EndpointConfig
from specstack.demo.posttrain import preference_prompts
from specstack.demo.standin_judge import ReferenceJudge
from tests.fakes.scripted_chat import ScriptedChat

PROMPT = [{"role": "user", "content": "Сколько стоит доставка в Казань?"}]
REFERENCE = "Доставка в Казань стоит 300 ₽ и занимает два дня."


def test_verdict_ranks_answers_by_similarity_to_the_reference():
    judge = ReferenceJudge.for_prompts([{"prompt": PROMPT, "reference": REFERENCE}])
    answers = ["Да.", "Доставка в Казань стоит 300 ₽.", "Доставка бесплатная."]
    verdict = judge.verdict(judge_messages("judge", PROMPT, answers)[1]["content"])
    assert json.loads(verdict) == {"best": 2, "worst": 1}
    other = [{"role": "user", "content": "Другой вопрос"}]
    assert "{" not in judge.verdict(judge_messages("judge", other, answers)[1]["content"])
    assert "{" not in judge.verdict("no judge request here")


def test_builder_gets_pairs_from_the_stand_in_judge_over_http(tmp_path: Path):
    unknown = [{"role": "user", "content": "Вопрос без эталона"}]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in (PROMPT, unknown)),
        encoding="utf-8",
    )
    replies = iter(["Стоит дорого.", "Доставка в Казань стоит 300 ₽, два дня.", "Да."] * 4)
    with (
        ScriptedChat(reply=lambda body: next(replies)) as policy,
        ReferenceJudge.for_prompts([{"prompt": PROMPT, "reference": REFERENCE}]) as judge_url,
    ):
        cfg = PreferenceConfig(
            policy=EndpointConfig(url=policy.url, concurrency=1),
            judge=EndpointConfig(url=judge_url, max_retries=0),
            samples=3,
            max_length_ratio=20.0,
            max_longer_share=1.0,
        )
        stats = build_preferences(prompts, tmp_path / "pairs.jsonl", cfg)
    assert (stats.prompts, stats.pairs, stats.bad_verdict) == (2, 1, 1)
    pair = json.loads((tmp_path / "pairs.jsonl").read_text(encoding="utf-8"))
    assert pair["chosen"][0]["content"] == "Доставка в Казань стоит 300 ₽, два дня."
    assert pair["rejected"][0]["content"] == "Да."


def test_preference_prompts_take_plain_first_replies_as_references(tmp_path: Path):
    rows = [
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "A?"},
                      {"role": "assistant", "content": "Ответ A."}]},
        {"messages": [{"role": "user", "content": "Где заказ?"}, {"role": "assistant", "content": "",
                      "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {}}}]}]},
        {"messages": [{"role": "user", "content": "B?"}, {"role": "assistant", "content": "Ответ B."}]},
    ]  # fmt: skip
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    got = preference_prompts(path, limit=5)
    assert [r["reference"] for r in got] == ["Ответ A.", "Ответ B."]
    assert got[0]["prompt"] == rows[0]["messages"][:2]
    assert len(preference_prompts(path, limit=1)) == 1
