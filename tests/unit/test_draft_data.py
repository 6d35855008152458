"""Draft-training data: the loss mask covers exactly the assistant tokens; bad inputs are one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from draft_training import data as D
from specstack.errors import SpecstackError
from tests.unit.draft_helpers import TOOLS, write_sft

TOOL_CHAT = {
    "messages": [
        {"role": "system", "content": "Ты помощник."},
        {"role": "user", "content": "Найди диван"},
        {
            "role": "assistant",
            "content": "Ищу.",
            "tool_calls": [
                {"type": "function", "function": {"name": "search_items", "arguments": {"query": "диван"}}}
            ],
        },
        {"role": "tool", "content": '[{"price": 1500}]'},
        {"role": "assistant", "content": "Нашёл диван за 1500 ₽."},
    ],
    "tools": TOOLS,
}


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return D.load_tokenizer(tiny_model_dir)


def masked_text(tok, ids: np.ndarray, mask: np.ndarray) -> list[str]:
    """Decoded runs of consecutive masked tokens."""
    runs, cur = [], []
    for i, m in zip(ids.tolist(), mask.tolist(), strict=True):
        if m:
            cur.append(i)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


def test_loss_mask_is_assistant_turns_with_tool_calls_and_end_of_turn(tok):
    ids, mask = D.encode(tok, D.parse_record(TOOL_CHAT, "t"), max_length=4096)
    runs = masked_text(tok, ids, mask)
    call = '<tool_call>\n{"name": "search_items", "arguments": {"query": "диван"}}\n</tool_call>'
    assert runs == [f"Ищу.\n{call}<|im_end|>", "Нашёл диван за 1500 ₽.<|im_end|>"]
    # the newline after <|im_end|>, the headers, the system/user/tool text are not trained on
    assert tok.decode(ids[mask == 0].tolist()).count("Найди диван") == 1
    assert "1500}]" in tok.decode(ids[mask == 0].tolist())


def test_truncation_cuts_ids_and_mask_together(tok):
    ids, mask = D.encode(tok, D.parse_record(TOOL_CHAT, "t"), max_length=40)
    assert len(ids) == len(mask) == 40


def test_sharegpt_is_converted_to_the_same_tokens(tok):
    openai = {
        "messages": [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте!"}]
    }
    sharegpt = {
        "conversations": [{"from": "human", "value": "Привет"}, {"from": "gpt", "value": "Здравствуйте!"}]
    }
    a = D.encode(tok, D.parse_record(openai, "a"), 512)
    b = D.encode(tok, D.parse_record(sharegpt, "b"), 512)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_no_assistant_turn_is_a_clear_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(SpecstackError, match=r"record 1: the conversation has no assistant turn"):
        list(D.iter_conversations(path))


def test_unknown_format_and_role_are_clear_errors():
    with pytest.raises(SpecstackError, match="expected a 'messages'"):
        D.parse_record({"text": "x"}, "r")
    with pytest.raises(SpecstackError, match="role"):
        D.parse_record({"messages": [{"role": "robot", "content": "x"}]}, "r")


def test_empty_data_is_a_clear_error(tmp_path, tiny_model_dir):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(SpecstackError, match="no conversations"):
        D.prepare_data(path, tiny_model_dir, 64, tmp_path / "cache")


def test_target_without_chat_template_is_a_clear_error(tmp_path, tiny_model_dir):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((bare / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecstackError, match="no chat template"):
        D.load_tokenizer(bare)


def test_template_without_generation_markers_is_a_clear_error(tmp_path, tiny_model_dir):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_model_dir, plain)
    path = plain / "chat_template.jinja"
    text = path.read_text().replace("{%- generation %}", "").replace("{%- endgeneration %}", "")
    path.write_text(text)
    with pytest.raises(SpecstackError, match="generation"):
        D.load_tokenizer(plain)


def test_preprocessing_is_cached_and_resumes_after_a_kill(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(D, "SHARD_SIZE", 10)
    data = write_sft(tmp_path / "train.jsonl", 25)
    first = D.prepare_data(data, tiny_model_dir, 512, tmp_path / "cache")
    assert len(first) + first.skipped == 25
    out = next((tmp_path / "cache").glob("data-*"))
    # a kill before the stamp and the last shard: only that shard is tokenized again
    (out / "specstack_build.json").unlink()
    (out / "shard-00002.pt").unlink()
    calls = []
    real = D.encode
    monkeypatch.setattr(D, "encode", lambda *a: calls.append(1) or real(*a))
    again = D.prepare_data(data, tiny_model_dir, 512, tmp_path / "cache")
    assert len(calls) == 5
    assert np.array_equal(first.ids, again.ids) and np.array_equal(first.offsets, again.offsets)
    # and a finished cache is read without tokenizing at all
    calls.clear()
    D.prepare_data(data, tiny_model_dir, 512, tmp_path / "cache")
    assert calls == []


def test_heldout_prompts_stop_before_the_first_assistant_turn(tok, tmp_path):
    path = tmp_path / "held.jsonl"
    path.write_text(json.dumps(TOOL_CHAT, ensure_ascii=False) + "\n")
    [prompt] = D.heldout_prompts(path, tok, 5, 4096)
    text = tok.decode(prompt)
    assert text.endswith("<|im_start|>assistant\n") and "Ищу" not in text


def test_missing_file(tmp_path: Path, tiny_model_dir):
    with pytest.raises(SpecstackError, match="no such file"):
        D.prepare_data(tmp_path / "nope.jsonl", tiny_model_dir, 64, tmp_path)
