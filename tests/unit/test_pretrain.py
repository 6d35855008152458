"""The base-model pretraining loop: it learns, a killed run resumes to the same weights, a diverged run
stops with a clear error; and a new model trains its pad (document separator) embedding."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from specstack.demo import pretrain as pretrain_module
from specstack.demo.config import ModelShape, PretrainConfig
from specstack.demo.model_dir import new_model
from specstack.demo.pretrain import batch_at, pack_documents, pretrain
from specstack.errors import SpecstackError
from specstack.schedule import OptimConfig
from specstack.training import divergence_guard
from tests.conftest import TINY_TEXTS

CFG = PretrainConfig(
    optim=OptimConfig(steps=12, lr=3e-3, warmup_steps=2),
    batch_size=4,
    seq_len=32,
    bf16=False,
    checkpoint_every=4,
)


def load(tiny_model_dir: Path):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def tokens_of(tokenizer) -> torch.Tensor:
    return pack_documents(tokenizer, TINY_TEXTS * 5, tokenizer.pad_token_id)


def test_batches_depend_only_on_seed_and_step(tiny_model_dir: Path) -> None:
    tokens = tokens_of(load(tiny_model_dir)[1])
    assert torch.equal(batch_at(tokens, 3, CFG, 0), batch_at(tokens, 3, CFG, 0))
    assert not torch.equal(batch_at(tokens, 3, CFG, 0), batch_at(tokens, 4, CFG, 0))


def test_loss_goes_down(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load(tiny_model_dir)
    tokens = tokens_of(tokenizer)
    batch = batch_at(tokens, 0, CFG, 0)
    with torch.no_grad():
        before = model(input_ids=batch, labels=batch).loss.item()
    summary = pretrain(model, tokens, CFG, tmp_path, seed=0)
    with torch.no_grad():
        after = model(input_ids=batch, labels=batch).loss.item()
    assert after < before - 1.0
    assert summary["steps"] == CFG.optim.steps


def test_killed_run_resumes_to_identical_weights(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    model_a, tokenizer = load(tiny_model_dir)
    tokens = tokens_of(tokenizer)
    pretrain(model_a, tokens, CFG, tmp_path / "straight", seed=0)

    calls = {"n": 0}
    real_save = pretrain_module.save_checkpoint

    def save_then_die(run_dir, state):
        real_save(run_dir, state)
        calls["n"] += 1
        if calls["n"] == 2:  # killed right after the step-8 checkpoint
            raise KeyboardInterrupt

    model_b, _ = load(tiny_model_dir)
    monkeypatch.setattr(pretrain_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(model_b, tokens, CFG, tmp_path / "killed", seed=0)
    monkeypatch.setattr(pretrain_module, "save_checkpoint", real_save)

    model_c, _ = load(tiny_model_dir)  # a fresh process would start from the saved weights
    pretrain(model_c, tokens, CFG, tmp_path / "killed", seed=0)
    for (name, a), (_, c) in zip(model_a.state_dict().items(), model_c.state_dict().items(), strict=True):
        assert torch.equal(a, c), name


def test_a_diverged_run_stops_with_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load(tiny_model_dir)
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
    with pytest.raises(SpecstackError, match=r"pretraining diverged: the loss is nan at step 1; lower"):
        pretrain(model, tokens_of(tokenizer), CFG, tmp_path, seed=0)


def test_the_pad_token_embedding_learns(tiny_model_dir: Path) -> None:
    """transformers zeroes the pad row (padding_idx) and never updates it; our pad token is the document
    separator of pretraining, so a new model must train it like any other row."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    shape = ModelShape(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                       head_dim=16, intermediate_size=128)  # fmt: skip
    model = new_model(shape, tokenizer)
    pad = tokenizer.pad_token_id
    row = model.get_input_embeddings().weight[pad]
    assert row.abs().max().item() > 0
    batch = torch.tensor([[pad, 5, 6, pad, 7, 8]])
    model(input_ids=batch, labels=batch).loss.backward()
    assert model.get_input_embeddings().weight.grad[pad].abs().max().item() > 0


def test_the_trainer_guard_stops_a_nan_loss() -> None:
    from transformers import TrainerControl, TrainerState

    guard = divergence_guard("SFTTrainer")
    state = TrainerState(global_step=7)
    guard.on_log(None, state, TrainerControl(), logs={"loss": 1.5})  # finite: nothing happens
    with pytest.raises(SpecstackError, match=r"SFTTrainer diverged: the loss is nan at step 7"):
        guard.on_log(None, state, TrainerControl(), logs={"loss": float("nan")})
