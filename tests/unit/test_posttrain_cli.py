"""`specstack adapt sft|grpo|preferences|dpo`: config + flags, the defaults chain, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from adaptation.cli import adapt, load_adapt_config
from adaptation.posttrain import PostLayout
from tests.fakes.scripted_chat import ScriptedChat

REPO = Path(__file__).resolve().parents[2]


def test_flags_override_the_post_section_and_the_defaults_chain(tmp_path: Path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "adapt:\n  out_dir: OUT\n  post:\n    grpo:\n      train:\n        domains: [math]\n"
        "        num_generations: 4\n    dpo:\n      train:\n        beta: 0.2\n",
        encoding="utf-8",
    )
    cfg = load_adapt_config(
        config, {"post__grpo__train__max_steps": 3, "post__grpo__train__domains": ("code", "fc")}
    )
    assert cfg.post.grpo.train.domains == ["code", "fc"] and cfg.post.grpo.train.num_generations == 4
    assert cfg.post.grpo.train.max_steps == 3 and cfg.post.dpo.train.beta == 0.2
    lay = PostLayout(cfg.out_dir, cfg.post)
    assert lay.sft_model == Path("OUT/model/unfreeze")
    assert lay.grpo_model == Path("OUT/post/sft/model")
    assert lay.dpo_model == Path("OUT/post/grpo/fc/model")
    assert lay.dpo_pairs == Path("OUT/post/preferences.jsonl")


def test_missing_model_is_a_one_line_error(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "specstack.cli", "adapt", "grpo", "--out-dir", str(tmp_path), "--prompts", "x.jsonl"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == f"error: grpo: no model at {tmp_path}/post/sft/model (give --model or run the previous stage)"
    )


def test_preferences_command_against_scripted_endpoints(tmp_path: Path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"prompt": [{"role": "user", "content": "Привет"}]}) + "\n", encoding="utf-8"
    )
    answers = iter(range(1000))

    def policy(body: dict) -> str:
        return f"Ответ {next(answers)}"

    def judge(body: dict) -> str:
        return '{"best": 1, "worst": 2}'

    with ScriptedChat(reply=policy) as pol, ScriptedChat(reply=judge) as jud:
        result = CliRunner().invoke(adapt, [
            "preferences", "--out-dir", str(tmp_path), "--prompts", str(prompts), "--policy-url", pol.url,
            "--judge-url", jud.url, "--samples", "3",
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert len(pol.received) == 3 and len(jud.received) == 1
    rows = (tmp_path / "post" / "preferences.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 and json.loads(rows[0])["chosen"][0]["content"].startswith("Ответ")
    assert "1 pairs from 1 prompts" in result.output


def test_sft_command_two_steps_on_the_tiny_model(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    tools = [{"type": "function", "function": {"name": "get_order", "description": "Заказ.", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]  # fmt: skip
    rows = [
        {"messages": [{"role": "user", "content": "Сколько стоит диван?"},
                      {"role": "assistant", "content": "15 000 ₽."}]},
        {"messages": [{"role": "user", "content": "Где заказ 12345678?"},
                      {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
                          "name": "get_order", "arguments": {"order_id": "12345678"}}}]},
                      {"role": "tool", "content": "{\"status\": \"в пути\"}"},
                      {"role": "assistant", "content": "Заказ в пути."}], "tools": tools},
    ]  # fmt: skip
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(adapt, [
        "sft", "--out-dir", str(tmp_path), "--model", str(tiny_model_dir), "--data", str(data), "--steps", "2",
        "--batch-size", "2", "--max-length", "384", "--group-by-length",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "post" / "sft" / "model"
    assert str(out) in result.output
    assert AutoModelForCausalLM.from_pretrained(str(out)).config.num_hidden_layers == 4
