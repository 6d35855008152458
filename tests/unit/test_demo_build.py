"""The demo build chain on a tiny config: stages are cached by key, and a changed config never resumes
the training run another config left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from adaptation.tokenizer.hf_dir import DEMO_CHAT_TEMPLATE
from specstack.demo.build import (
    build_models,
    build_target_stage,
    describe,
    stage_run_dir,
    target_key,
)
from specstack.demo.config import DemoConfig
from tests.conftest import TINY_TEXTS
from tests.tiny_models import write_tiny_llama_gguf


def tiny_demo(out_dir: Path, base: Path, sft_lr: float, adapt: bool = True) -> DemoConfig:
    return DemoConfig.model_validate(
        {
            "out_dir": str(out_dir),
            "corpus": {
                "sft_train": 40,
                "rl_train": 10,
                "ru_text_bytes": 40_000,
                "en_text_bytes": 20_000,
                "code_text_bytes": 20_000,
            },
            "base": {"path": str(base)},
            "adapt": {
                "enabled": adapt,
                "chat_template": str(DEMO_CHAT_TEMPLATE),
                "tokenizer": {"vocab_size": 900, "added_tokens": ["<tool_call>", "<extra_tool_token>"]},
                "embeddings": {
                    "seq_len": 32,
                    "eval_documents": 2,
                    "freeze": {"max_steps": 2, "batch_size": 2},
                    "unfreeze": {"max_steps": 2, "batch_size": 2},
                },
            },
            "target": {
                "sft": {"max_steps": 2, "batch_size": 2, "lr": sft_lr, "warmup_steps": 0, "max_length": 256},
                "eval_conversations": 4,
            },
        }
    )


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny random Llama as a GGUF file: the demo's base path, as SmolLM2 comes."""
    path = tmp_path_factory.mktemp("base") / "tiny.gguf"
    write_tiny_llama_gguf(path, TINY_TEXTS * 40)
    return path


def target_weights(cfg: DemoConfig) -> dict[str, np.ndarray]:
    return load_file(str(cfg.out_dir / "target" / "model.safetensors"))


@pytest.mark.slow
def test_changed_config_rebuilds_from_scratch_and_cleans_up(tmp_path, tiny_base):
    first = tiny_demo(tmp_path, tiny_base, sft_lr=1e-3)
    build_models(first, seed=0)
    built = target_weights(first)
    assert not any((tmp_path / "runs").iterdir()), "finished stages leave no run directory behind"

    # An interrupted run of the first config is left on disk...
    stale = stage_run_dir(first, "target", target_key(first, 0)) / "run" / "checkpoint-2"
    stale.mkdir(parents=True)
    # ...and a second config with the same step count but another learning rate must not pick it up.
    second = tiny_demo(tmp_path, tiny_base, sft_lr=5e-2)
    assert target_key(second, 0) != target_key(first, 0)
    build_target_stage(second, seed=0)
    rebuilt = target_weights(second)
    assert any(not np.array_equal(built[k], rebuilt[k]) for k in built)
    assert stale.is_dir(), "the first config's run is kept for its own resume"

    # Building the second config again is a cache hit: same weights, no training.
    build_target_stage(second, seed=0)
    again = target_weights(second)
    assert all(np.array_equal(rebuilt[k], again[k]) for k in rebuilt)


@pytest.mark.slow
def test_target_is_built_from_the_adapted_base(tmp_path, tiny_base):
    from transformers import AutoTokenizer

    stages = build_models(tiny_demo(tmp_path / "adapted", tiny_base, sft_lr=1e-3), seed=0)
    source = describe(stages["base"])["source"]
    assert source["file"] == "tiny.gguf" and source["tensor_types"] == {"F32": 20}
    assert list(stages) == ["corpus", "base", "adapted", "target"]
    base = AutoTokenizer.from_pretrained(str(stages["base"]))
    target = AutoTokenizer.from_pretrained(str(stages["target"]))
    adapted = AutoTokenizer.from_pretrained(str(stages["adapted"]))
    assert target.get_vocab() == adapted.get_vocab() != base.get_vocab()
    assert len(target) > len(base), "the merged tokenizer appends Russian tokens"
    russian = "Продаю детский велосипед, почти новый, самовывоз из Москвы."
    assert len(target(russian).input_ids) < len(base(russian).input_ids)
    assert target.chat_template == DEMO_CHAT_TEMPLATE.read_text() == base.chat_template
    assert target.convert_tokens_to_ids("<extra_tool_token>") == len(target) - 1, "configured token appended"
    assert "<extra_tool_token>" in target.tokenize("a <extra_tool_token> b"), "one token in text"
    adaptation = describe(stages["adapted"])["adaptation"]
    assert adaptation["density"]["merged"]["vs_base"]["ru"] > 1.0
    assert {"ru", "en", "code"} <= set(adaptation["heldout_after"])
    rows = load_file(str(stages["target"] / "model.safetensors"))["model.embed_tokens.weight"].shape[0]
    assert rows == len(target)

    shortcut = build_models(tiny_demo(tmp_path / "shortcut", tiny_base, sft_lr=1e-3, adapt=False), seed=0)
    assert list(shortcut) == ["corpus", "base", "target"]
    assert AutoTokenizer.from_pretrained(str(shortcut["target"])).get_vocab() == base.get_vocab()


@pytest.mark.parametrize(
    ("summary", "want"),
    [
        (
            {"speedup_batch1": 1.316, "tau_batch1": 3.095, "stops_paying_at": 8},
            "speedup at batch 1 1.32x (τ 3.10); stops paying at batch 8; plots in report.md",
        ),
        ({"speedup_batch1": None, "stops_paying_at": None}, "pays at every batch tested; plots in report.md"),
    ],
)
def test_make_demo_prints_the_load_test_headline(tmp_path, summary, want):
    import json

    from specstack.demo.flow import _loadtest_summary

    (tmp_path / "report.json").write_text(json.dumps({"summary": summary}), encoding="utf-8")
    assert _loadtest_summary(tmp_path / "report.md") == want
