"""Training: exact resume after a kill, the exported checkpoint contract, offline mode, the ablation, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

from draft_training.evaluate import tau_from_walks, walk
from draft_training.train import TrainingInterrupted, run_key, train
from specstack.cli import main
from specstack.errors import SpecstackError
from tests.unit.draft_helpers import build_target, tiny_config


@pytest.fixture(scope="module")
def target8(tmp_path_factory) -> Path:
    return build_target(tmp_path_factory.mktemp("t8") / "target", num_layers=8)


def weights(draft_dir) -> dict:
    return load_file(str(Path(draft_dir) / "model.safetensors"))


def test_resume_after_kill_gives_bit_identical_weights(tmp_path, target8):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole = tiny_config(tmp_path / "a", target8)
    train(whole)
    killed = tiny_config(tmp_path / "b", target8)
    with pytest.raises(TrainingInterrupted):
        train(killed, stop_after=3)  # checkpoint at step 2, killed after step 3
    assert (Path(killed.run_dir) / "checkpoint").is_dir()
    train(killed)  # resumes from step 2 and replays step 3 with the same data and RNG
    a, b = weights(whole.output_dir), weights(killed.output_dir)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k
    steps = [
        json.loads(line)["step"]
        for line in (Path(killed.run_dir) / "logs/train.jsonl").read_text().splitlines()
    ]
    assert steps == [2, 4, 6]
    assert not (Path(killed.run_dir) / "checkpoint").exists()


def test_checkpoint_of_another_config_is_refused(tmp_path, target8):
    cfg = tiny_config(tmp_path, target8)
    with pytest.raises(TrainingInterrupted):
        train(cfg, stop_after=2)
    other = cfg.model_copy(update={"seed": 5})
    with pytest.raises(SpecstackError, match="different draft config"):
        train(other)


def test_a_target_rebuilt_in_place_retrains_the_draft(tmp_path, target8):
    """The same config paths with new target weights (or new data) must not reuse the old draft."""
    import shutil

    target = tmp_path / "target"
    shutil.copytree(target8, target)
    cfg = tiny_config(tmp_path, target)
    train(cfg)
    before = weights(cfg.output_dir)
    assert train(cfg) == Path(cfg.output_dir)  # unchanged: reused
    assert all(np.array_equal(before[k].numpy(), v.numpy()) for k, v in weights(cfg.output_dir).items())

    build_target(target, num_layers=8, seed=1)  # same path, new weights (as a demo rebuild does)
    key_after_rebuild = run_key(cfg)
    train(cfg)
    after = weights(cfg.output_dir)
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)

    with open(cfg.train_data, "a", encoding="utf-8") as f:
        f.write(Path(cfg.train_data).read_text(encoding="utf-8").splitlines()[0] + "\n")
    assert run_key(cfg) != key_after_rebuild


def test_export_follows_the_checkpoint_contract(tmp_path, target8):
    cfg = tiny_config(tmp_path, target8)
    out = Path(train(cfg))
    conf = json.loads((out / "config.json").read_text())
    assert conf["architectures"] == ["LlamaForCausalLMEagle3"]
    assert conf["num_hidden_layers"] == 1 and conf["tie_word_embeddings"] is False
    assert conf["vocab_size"] == 400 and conf["draft_vocab_size"] == 200
    assert conf["rope_theta"] == 10000.0 and "target_hidden_size" not in conf
    assert "eagle_aux_hidden_state_layer_ids" not in conf and "eagle_config" not in conf  # default layers
    t = weights(out)
    H, V, N = 64, 400, 200
    expected = {
        "embed_tokens.weight": (V, H),
        "fc.weight": (H, 3 * H),
        "midlayer.input_layernorm.weight": (H,),
        "midlayer.hidden_norm.weight": (H,),
        "midlayer.post_attention_layernorm.weight": (H,),
        "midlayer.self_attn.q_proj.weight": (64, 2 * H),
        "midlayer.self_attn.k_proj.weight": (32, 2 * H),
        "midlayer.self_attn.v_proj.weight": (32, 2 * H),
        "midlayer.self_attn.o_proj.weight": (H, 64),
        "midlayer.mlp.gate_proj.weight": (128, H),
        "midlayer.mlp.up_proj.weight": (128, H),
        "midlayer.mlp.down_proj.weight": (H, 128),
        "norm.weight": (H,),
        "lm_head.weight": (N, H),
        "d2t": (N,),
        "t2d": (V,),
    }
    assert {k: tuple(v.shape) for k, v in t.items()} == expected
    assert str(t["d2t"].dtype) == "torch.int64" and str(t["t2d"].dtype) == "torch.bool"
    # the embedding is the target's, frozen
    target = load_file(str(target8 / "model.safetensors"))
    assert np.array_equal(t["embed_tokens.weight"].numpy(), target["model.embed_tokens.weight"].numpy())


def test_full_vocab_and_custom_layers(tmp_path, target8):
    cfg = tiny_config(tmp_path, target8, draft_vocab_size=32000, aux_layer_ids=[2, 3, 6])
    out = Path(train(cfg))
    conf = json.loads((out / "config.json").read_text())
    assert conf["draft_vocab_size"] == conf["vocab_size"] == 400
    assert conf["eagle_aux_hidden_state_layer_ids"] == [2, 3, 6]
    assert conf["eagle_config"] == {"eagle_aux_hidden_state_layer_ids": [2, 3, 6]}
    assert "d2t" not in weights(out) and "t2d" not in weights(out)  # vLLM refuses them at full vocab


def test_offline_mode_and_eagle2_ablation_train_and_evaluate(tmp_path, target8):
    from draft_training.evaluate import evaluate

    cfg = tiny_config(tmp_path, target8, hidden_states="offline", head_type="eagle2")
    out = Path(train(cfg))
    assert json.loads((out / "config.json").read_text())["architectures"] == ["SpecstackEagle2Ablation"]
    assert weights(out)["fc.weight"].shape == (64, 64)
    assert any((Path(cfg.run_dir) / "hidden_states").rglob("*.pt"))
    result = evaluate(cfg)
    assert set(result.tau) == {1, 2, 3} and all(1.0 <= t <= 1 + k for k, t in result.tau.items())


def test_walk_counts_like_the_engine():
    # match[j-1, p]: draft j from row p is right. Rows 0..9, k = 3.
    match = np.zeros((3, 10), dtype=bool)
    match[:, 0] = True  # from row 0: all three drafts accepted -> 4 tokens, next row 4
    match[0, 4] = True  # from row 4: one accepted -> 2 tokens, next row 6
    accepted = walk(match, start=0, length=9, k=3)
    # produced: 1 (prefill) +4 +2 =7, then row 6 (nothing accepted) +1 = 8, row 7 +1 = 9: done
    assert accepted == [3, 1, 0, 0]
    tau, pos, steps = tau_from_walks([accepted], 3)
    assert tau == pytest.approx(1 + 4 / 4) and steps == 4
    assert pos == [0.5, 0.25, 0.25]
    assert walk(match, 0, 9, k=1) == [1, 0, 0, 1, 0, 0]  # from rows 0, 2, 3, 4, 6, 7


def test_cli_train_and_eval(tmp_path, target8, capsys):
    cfg = tiny_config(tmp_path, target8)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"draft": cfg.model_dump(mode="json")}))
    assert main(["draft", "train", "--config", str(path), "--steps", "2"]) == 0
    assert main(["draft", "eval", "--config", str(path), "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "| τ k=1 | τ k=2 | τ k=3 |" in out
    assert json.loads((Path(cfg.run_dir) / "eval/tau-draft.json").read_text())["prompts"] == 3


def test_cli_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 1\n")
    assert main(["draft", "train", "--config", str(path)]) == 1
    assert "needs a 'draft:' section" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({"draft": {"target_model": "x", "train_data": "y", "output_dir": "o"}}))
    assert main(["draft", "train", "--config", str(path)]) == 1
    assert "draft.run_dir" in capsys.readouterr().err


def test_bf16_autocast_on_cpu_trains(tmp_path, target8):
    cfg = tiny_config(tmp_path, target8, autocast="bf16")
    out = Path(train(cfg))
    log = [json.loads(line) for line in (Path(cfg.run_dir) / "logs/train.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["loss"]) for row in log)
    assert str(weights(out)["fc.weight"].dtype) == "torch.float32"  # exported in float32 either way
