"""The post-training chain on the demo models (`specstack demo posttrain`), a step or two per stage: GRPO on
each domain, DPO pairs sampled from the GRPO model in vLLM's CPU build and judged by the stand-in judge
(not a model: no judge model runs here), DPO, and the eval table over every checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from specstack.cache import read_stamp
from specstack.config import load_run_config
from specstack.demo.config import DemoPostConfig
from specstack.demo.posttrain import DemoPostLayout, run_posttrain
from tests.engine_helpers import DEMO_TARGET, demo_models_missing

pytestmark = [pytest.mark.slow, pytest.mark.engine]

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "grpo": {
        "max_prompts": 3, "num_generations": 2, "max_completion_length": 24, "max_steps": 1, "lr": 1e-5,
        "difficulty_filter": {"samples": 2, "max_tokens": 24},
    },
    "preferences": {"prompts": 6, "samples": 3, "max_tokens": 32, "max_length_ratio": 10.0},
    "dpo": {"max_steps": 2, "batch_size": 2, "lr": 1e-5, "warmup_steps": 0, "save_steps": 1},
    "eval": {"max_prompts": 3, "max_conversations": 4, "max_documents": 2, "max_new_tokens": 16},
}  # fmt: skip


def weights(model_dir: Path) -> dict[str, np.ndarray]:
    return load_file(str(model_dir / "model.safetensors"))


def test_grpo_dpo_and_eval_run_on_the_demo_models(tmp_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (DEMO_TARGET / "config.json").is_file():
        demo_models_missing(f"no demo target at {DEMO_TARGET}")
    run = load_run_config(ROOT / "configs" / "demo.yaml")
    cfg = run.demo.model_copy(update={"post": DemoPostConfig.model_validate(SMALL)})
    table = run_posttrain(run, cfg, root=tmp_path)
    lay = DemoPostLayout(tmp_path)

    target_vocab = AutoTokenizer.from_pretrained(str(DEMO_TARGET)).get_vocab()
    for model_dir in (lay.grpo_model, lay.dpo_model):
        model = AutoModelForCausalLM.from_pretrained(str(model_dir))
        assert (
            model.config.num_hidden_layers
            == AutoModelForCausalLM.from_pretrained(str(DEMO_TARGET)).config.num_hidden_layers
        )
        assert AutoTokenizer.from_pretrained(str(model_dir)).get_vocab() == target_vocab
    grpo_filter = read_stamp(lay.stage("grpo"))["difficulty_filter"]
    assert set(grpo_filter) == {"fc", "math", "code"}
    assert all(sum(f["solved_histogram"].values()) == 3 for f in grpo_filter.values())

    stats = read_stamp(lay.stage("preferences"))["stats"]
    assert stats["prompts"] == 6 and stats["pairs"] >= 1, stats
    pairs = [json.loads(line) for line in lay.pairs.read_text(encoding="utf-8").splitlines()]
    assert len(pairs) == stats["pairs"]
    assert all(p["chosen"][0]["content"] != p["rejected"][0]["content"] for p in pairs)
    before, after = weights(lay.grpo_model), weights(lay.dpo_model)
    assert any(not np.array_equal(before[k], after[k]) for k in before), "DPO moved no weight"

    report = json.loads((table.parent / "eval.json").read_text(encoding="utf-8"))
    names = [c["name"] for c in report["checkpoints"]]
    assert names == ["base", "adapted", "sft (target)", "grpo", "dpo"]
    assert all(len(c["text"]) == 3 for c in report["checkpoints"])
    assert all(f"| {name} |" in table.read_text(encoding="utf-8") for name in names)

    # Everything is cached now: a second call trains nothing and returns the same table.
    stamps = {s: read_stamp(lay.stage(s))["key"] for s in ("grpo", "preferences", "dpo", "eval")}
    mtime = lay.dpo_model.stat().st_mtime_ns
    assert run_posttrain(run, cfg, root=tmp_path) == table
    assert lay.dpo_model.stat().st_mtime_ns == mtime
    assert {s: read_stamp(lay.stage(s))["key"] for s in stamps} == stamps
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_sft_stage_runs_on_the_adapted_demo_model(tmp_path: Path):
    """`adapt sft`'s trainer on the demo's adapted base (the target build runs the same at full length)."""
    from transformers import AutoModelForCausalLM

    from adaptation.sft import SFTStageConfig, run_sft

    adapted = DEMO_TARGET.parent / "adapted"
    if not (adapted / "config.json").is_file():
        demo_models_missing(f"no adapted demo model at {adapted}")
    data = DEMO_TARGET.parent / "corpus" / "sft_heldout.jsonl"
    cfg = SFTStageConfig(
        max_steps=2, batch_size=2, lr=1e-4, warmup_steps=0, save_steps=1, group_by_length=True
    )
    out = run_sft(adapted, data, tmp_path / "sft", cfg)
    vocab = AutoModelForCausalLM.from_pretrained(str(adapted)).config.vocab_size
    assert AutoModelForCausalLM.from_pretrained(str(out)).config.vocab_size == vocab
    before, after = weights(adapted), weights(out)
    assert any(not np.array_equal(before[k], after[k]) for k in before), "SFT moved no weight"
    assert (tmp_path / "sft" / "run" / "checkpoint-2").is_dir(), "resumable checkpoints are written"
