"""GRPO stage: the difficulty filter against a scripted endpoint (test double), and 2 steps end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from adaptation.difficulty import DifficultyFilterConfig, FilterStats, filter_prompts
from adaptation.grpo import GRPOStageConfig, build_dataset, load_rl_rows, run_grpo
from adaptation.sampling import EndpointClient, EndpointConfig
from tests.fakes.scripted_chat import ScriptedChat

SYSTEM = {"role": "system", "content": "Ты решаешь задачи."}
TOOLS = [{"type": "function", "function": {"name": "get_order", "description": "Заказ.", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]  # fmt: skip
ROWS = [
    {"prompt": [SYSTEM, {"role": "user", "content": "2 + 2 = ?"}], "domain": "math", "answer": "4"},
    {"prompt": [SYSTEM, {"role": "user", "content": "Сколько будет 7 × 8?"}], "domain": "math", "answer": "56"},
    {"prompt": [SYSTEM, {"role": "user", "content": "Сколько стоят 3 кг по 1,5 ₽?"}], "domain": "math",
     "answer": "4,5"},
    {"prompt": [SYSTEM, {"role": "user", "content": "Где заказ 12345678?"}], "domain": "fc", "tools": TOOLS,
     "tool_calls": [{"name": "get_order", "arguments": {"order_id": "12345678"}}], "category": "simple"},
    {"prompt": [SYSTEM, {"role": "user", "content": "Где заказ 87654321?"}], "domain": "fc", "tools": TOOLS,
     "tool_calls": [{"name": "get_order", "arguments": {"order_id": "87654321"}}], "category": "simple"},
]  # fmt: skip


def scripted_policy():
    """2 + 2 is solved every time, 7 × 8 on every other request for it, 1,5 ₽ never; order 12345678 every time
    (as parsed tool_calls), order 87654321 never."""
    count: dict[str, int] = {}

    def reply(body: dict) -> str | dict:
        user = body["messages"][-1]["content"]
        count[user] = count.get(user, 0) + 1
        if "2 + 2" in user:
            return "Считаем.\nОтвет: 4"
        if "7 × 8" in user:
            return "Ответ: 56" if count[user] % 2 else "Ответ: 54"
        if "12345678" in user:
            assert body["tools"] == TOOLS
            call = {
                "type": "function",
                "function": {"name": "get_order", "arguments": '{"order_id": "12345678"}'},
            }
            return {"content": None, "tool_calls": [{"id": "c1", **call}]}
        if "87654321" in user:
            return '<tool_call>\n{"name": "get_order", "arguments": {"order_id": 87654321}}\n</tool_call>'
        return "Ответ: 5"

    return reply


def test_difficulty_filter_drops_prompts_solved_every_time():
    cfg = DifficultyFilterConfig(samples=8)
    with ScriptedChat(reply=scripted_policy()) as up:
        stats = FilterStats()
        with EndpointClient(EndpointConfig(url=up.url, concurrency=4)) as client:
            kept = list(filter_prompts(ROWS, client, cfg, stats))
        assert len(up.received) == 8 * len(ROWS)
        assert all(r.body["temperature"] == 0.7 for r in up.received)
    assert [r["prompt"][-1]["content"] for r in kept] == [
        "Сколько будет 7 × 8?",
        "Сколько стоят 3 кг по 1,5 ₽?",
        "Где заказ 87654321?",
    ]
    assert (stats.kept, stats.dropped_solved) == (3, 2)
    assert stats.solved_histogram == {8: 2, 4: 1, 0: 2}

    cfg = DifficultyFilterConfig(samples=8, drop_unsolved=True)
    with (
        ScriptedChat(reply=scripted_policy()) as up,
        EndpointClient(EndpointConfig(url=up.url + "/v1")) as client,
    ):
        kept = list(filter_prompts(ROWS, client, cfg))
    assert [r["answer"] for r in kept] == ["56"]


def test_difficulty_filter_reports_progress(monkeypatch, capsys):
    monkeypatch.setenv("SPECSTACK_NO_PROGRESS", "0")  # off a terminal: a plain line every 10%
    with ScriptedChat(reply=scripted_policy()) as up, EndpointClient(EndpointConfig(url=up.url)) as client:
        kept = list(filter_prompts(ROWS, client, DifficultyFilterConfig(samples=2)))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("difficulty filter: ")]
    assert len(kept) == 3 and len(lines) == 5  # one line per prompt: 5 prompts, each 20%
    assert lines[0].startswith("difficulty filter: 1/5 (") and lines[-1].endswith(f"s) kept {len(kept)}")


def test_rl_rows_and_dataset_render_tools(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoTokenizer

    path = tmp_path / "rl.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    fc = load_rl_rows(path, "fc")
    assert len(fc) == 2 and len(load_rl_rows(path, "math", limit=2)) == 2
    ds = build_dataset(AutoTokenizer.from_pretrained(str(tiny_model_dir)), fc, "fc")
    assert "get_order" in ds[0]["prompt"] and ds[0]["prompt"].rstrip().endswith("assistant")
    assert json.loads(ds[0]["tool_calls"]) == ROWS[3]["tool_calls"]


def test_grpo_two_steps_end_to_end_writes_a_loadable_checkpoint(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    path = tmp_path / "rl.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    cfg = GRPOStageConfig(
        domains=["math"], num_generations=2, max_completion_length=8, max_steps=2, bf16=False, beta=0.0,
        save_steps=100, logging_steps=1, difficulty_filter=DifficultyFilterConfig(enabled=False),
    )  # fmt: skip
    out = run_grpo(tiny_model_dir, path, tmp_path / "grpo", cfg)
    assert out == tmp_path / "grpo" / "math" / "model"
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert model.config.num_hidden_layers == 4
    assert (out / "tokenizer.json").is_file()


def test_grpo_chains_domains_filters_and_skips_finished_ones(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch
):
    """Domain order, each from the previous model, filter counts written, finished domains skipped (the
    trainer itself is replaced here; the end-to-end test above runs it)."""
    import adaptation.grpo as grpo

    calls = []

    def fake_domain(model_dir, rows, domain, output_dir, cfg):
        calls.append((Path(model_dir), domain, len(rows)))
        (Path(output_dir) / "model").mkdir(parents=True)
        (Path(output_dir) / "model" / "config.json").write_text("{}")
        return Path(output_dir) / "model"

    monkeypatch.setattr(grpo, "run_grpo_domain", fake_domain)
    path = tmp_path / "rl.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    with ScriptedChat(reply=scripted_policy()) as up:
        filt = DifficultyFilterConfig(samples=4, endpoint=EndpointConfig(url=up.url))
        cfg = GRPOStageConfig(domains=["fc", "math", "code"], difficulty_filter=filt)
        out = run_grpo(tiny_model_dir, path, tmp_path / "grpo", cfg)
    assert out == tmp_path / "grpo" / "math" / "model"
    assert calls == [(tiny_model_dir, "fc", 1), (tmp_path / "grpo" / "fc" / "model", "math", 2)]
    assert json.loads((tmp_path / "grpo" / "fc" / "filter.json").read_text())["dropped_solved"] == 1
    assert len((tmp_path / "grpo" / "math" / "prompts.jsonl").read_text().splitlines()) == 2
    calls.clear()
    assert run_grpo(tiny_model_dir, path, tmp_path / "grpo", cfg) == out and calls == []
    # an interrupted domain resumes on the prompts it was filtered to, without sampling again
    shutil.rmtree(tmp_path / "grpo" / "math" / "model")
    assert run_grpo(tiny_model_dir, path, tmp_path / "grpo", cfg) == out  # (the filter's endpoint is gone)
    assert calls == [(tmp_path / "grpo" / "fc" / "model", "math", 2)]


def test_local_sampler_returns_n_conversational_completions(tiny_model_dir: Path):
    from adaptation.sampling import LocalSampler

    sampler = LocalSampler(tiny_model_dir, temperature=0.7, max_tokens=4)
    out = sampler.sample(ROWS[3]["prompt"], 3, TOOLS)
    assert len(out) == 3 and all(
        c[0]["role"] == "assistant" and isinstance(c[0]["content"], str) for c in out
    )
