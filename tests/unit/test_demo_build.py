"""The demo build chain on a tiny config: stages are cached by key, and a changed config never resumes
the training run another config left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from specstack.demo.build import (
    build_base_stage,
    build_corpus_stage,
    build_target_stage,
    stage_run_dir,
    target_key,
)
from specstack.demo.config import DemoConfig


def tiny_demo(out_dir: Path, sft_lr: float) -> DemoConfig:
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
            "tokenizer": {"vocab_size": 600},
            "base": {
                "shape": {
                    "hidden_size": 64,
                    "num_hidden_layers": 4,
                    "num_attention_heads": 4,
                    "num_key_value_heads": 2,
                    "head_dim": 16,
                    "intermediate_size": 128,
                },
                "pretrain": {
                    "batch_size": 2,
                    "seq_len": 32,
                    "optim": {"steps": 2, "lr": 1e-3, "warmup_steps": 0},
                },
            },
            "target": {
                "sft": {"max_steps": 2, "batch_size": 2, "lr": sft_lr, "warmup_steps": 0, "max_length": 256},
                "eval_conversations": 4,
            },
        }
    )


def target_weights(cfg: DemoConfig) -> dict[str, np.ndarray]:
    return load_file(str(cfg.out_dir / "target" / "model.safetensors"))


@pytest.mark.slow
def test_changed_config_rebuilds_from_scratch_and_cleans_up(tmp_path):
    first = tiny_demo(tmp_path, sft_lr=1e-3)
    build_corpus_stage(first)
    build_base_stage(first, seed=0)
    build_target_stage(first, seed=0)
    built = target_weights(first)
    assert not any((tmp_path / "runs").iterdir()), "finished stages leave no run directory behind"

    # An interrupted run of the first config is left on disk...
    stale = stage_run_dir(first, "target", target_key(first, 0)) / "run" / "checkpoint-2"
    stale.mkdir(parents=True)
    # ...and a second config with the same step count but another learning rate must not pick it up.
    second = tiny_demo(tmp_path, sft_lr=5e-2)
    assert target_key(second, 0) != target_key(first, 0)
    build_target_stage(second, seed=0)
    rebuilt = target_weights(second)
    assert any(not np.array_equal(built[k], rebuilt[k]) for k in built)
    assert stale.is_dir(), "the first config's run is kept for its own resume"

    # Building the second config again is a cache hit: same weights, no training.
    build_target_stage(second, seed=0)
    again = target_weights(second)
    assert all(np.array_equal(rebuilt[k], again[k]) for k in rebuilt)


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
