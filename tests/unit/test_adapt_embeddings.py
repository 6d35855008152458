"""Embedding adaptation: init rows from base pieces, freeze keeps old rows bit-identical, resume, CLI errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models

from adaptation.config import (
    AdaptConfig,
    CorporaConfig,
    EmbeddingsAdaptConfig,
    TokenizerAdaptConfig,
    TrainStageConfig,
)
from adaptation.pipeline import (
    Layout,
    embeddings_init_stage,
    embeddings_stage,
    tokenizer_merge_stage,
    tokenizer_prune_stage,
    tokenizer_train_stage,
)
from adaptation.tokenizer.bpe import load_tokenizer
from adaptation.tokenizer.merge import read_vocab_map
from specstack.cli import main
from tests.unit.adapt_helpers import code_docs, english_docs, russian_docs, write_corpus

STAGE = TrainStageConfig(max_steps=4, batch_size=2, lr=5e-2, warmup_steps=0, weight_decay=0.1, save_steps=2)
STAGE_UNFREEZE = STAGE.model_copy(update={"lr": 1e-3})


def make_config(root: Path, base_model: Path) -> AdaptConfig:
    corpus = root / "corpus"
    return AdaptConfig(
        base_model=base_model,
        out_dir=root / "out",
        corpora=CorporaConfig(
            russian_train=[write_corpus(corpus / "ru.txt", russian_docs(200))],
            english_train=[write_corpus(corpus / "en.txt", english_docs(100))],
            code_train=[write_corpus(corpus / "code.txt", code_docs(50))],
            russian_heldout=[write_corpus(corpus / "ru_heldout.txt", russian_docs(5, seed=7))],
        ),
        tokenizer=TokenizerAdaptConfig(vocab_size=600, coverage=0.95),
        embeddings=EmbeddingsAdaptConfig(
            seq_len=32, freeze=STAGE, unfreeze=STAGE_UNFREEZE, bf16=False, eval_documents=2
        ),
    )


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> AdaptConfig:
    """Tokenizer stages and embeddings init run once on the tiny model."""
    cfg = make_config(tmp_path_factory.mktemp("adapt"), tiny_model_dir)
    tokenizer_train_stage(cfg)
    tokenizer_prune_stage(cfg)
    tokenizer_merge_stage(cfg)
    embeddings_init_stage(cfg)
    return cfg


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def test_init_copies_old_rows_and_averages_base_pieces_for_new_ones(adapted: AdaptConfig) -> None:
    lay = Layout(adapted.out_dir)
    base_w, new_w = weights(adapted.base_model), weights(lay.init)
    base_tok, merged_tok = load_tokenizer(adapted.base_model), load_tokenizer(lay.merged)
    merged_to_base = read_vocab_map(lay.init)
    new_ids = [i for i, b in enumerate(merged_to_base) if b < 0]
    assert new_ids, "the merge must add tokens"
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        old, new = base_w[name], new_w[name]
        assert new.shape[0] == merged_tok.get_vocab_size()
        for i, b in enumerate(merged_to_base):
            if b >= 0:
                assert torch.equal(new[i], old[b])
        for i in new_ids:
            pieces = [t.id for t in base_tok.model.tokenize(merged_tok.id_to_token(i))]
            assert len(pieces) >= 2
            torch.testing.assert_close(new[i], old[pieces].mean(0))
    config = json.loads((lay.init / "config.json").read_text())
    assert config["vocab_size"] == merged_tok.get_vocab_size()
    assert config["eos_token_id"] == merged_tok.token_to_id("<|im_end|>")
    assert config["pad_token_id"] == merged_tok.token_to_id("<|endoftext|>")


def test_freeze_keeps_old_rows_bit_identical_and_moves_new_rows(adapted: AdaptConfig) -> None:
    lay = Layout(adapted.out_dir)
    embeddings_stage(adapted, "freeze")
    before, after = weights(lay.init), weights(lay.freeze)
    old = torch.tensor([b >= 0 for b in read_vocab_map(lay.init)])
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        assert torch.equal(after[name][old], before[name][old]), f"old rows of {name} moved"
        moved = (after[name][~old] != before[name][~old]).any(dim=1)
        # Every lm_head row gets a gradient through the softmax; an input row only when its token occurs.
        assert moved.float().mean() > (0.99 if name == "lm_head.weight" else 0.1), f"new rows of {name}"
    for name in before:  # nothing but the embedding matrices trains
        if name not in ("model.embed_tokens.weight", "lm_head.weight"):
            assert torch.equal(after[name], before[name]), name
    stamp = json.loads((lay.freeze / "specstack_build.json").read_text())
    assert stamp["train"]["steps"] == STAGE.max_steps
    assert stamp["train"]["trainable_parameters"] == 2 * before["lm_head.weight"].numel()
    assert "loss_per_char" in stamp["heldout"]["ru"]


def test_unfreeze_trains_everything_and_resumes_to_the_same_weights(adapted: AdaptConfig) -> None:
    lay = Layout(adapted.out_dir)
    if not (lay.freeze / "config.json").is_file():
        embeddings_stage(adapted, "freeze")
    embeddings_stage(adapted, "unfreeze")
    first = weights(lay.unfreeze)
    before = weights(lay.freeze)
    assert not torch.equal(
        first["model.layers.0.mlp.up_proj.weight"], before["model.layers.0.mlp.up_proj.weight"]
    )
    # The same run killed during step 3 (after its step-2 checkpoint) and started again resumes from there.
    from transformers import TrainerCallback

    from adaptation.embeddings.freeze import train_embeddings as run_training
    from adaptation.pipeline import training_documents, unfreeze_key

    class Kill(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt

    shutil.rmtree(lay.runs / "unfreeze")
    shutil.rmtree(lay.unfreeze)
    common = {"seq_len": 32, "bf16": False, "seed": adapted.seed, "key": unfreeze_key(adapted)}
    args = (
        lay.freeze,
        lay.unfreeze,
        lay.runs / "unfreeze",
        training_documents(adapted),
        STAGE_UNFREEZE,
        "unfreeze",
    )
    with pytest.raises(KeyboardInterrupt):
        run_training(*args, **common, callbacks=[Kill()])
    assert not lay.unfreeze.exists()
    summary = run_training(*args, **common)
    assert summary["resumed_from"] == "checkpoint-2" and summary["steps"] == 4
    resumed = weights(lay.unfreeze)
    for name, tensor in first.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0)
    # --force: the finished run's checkpoints are discarded and it trains from step 0 again.
    assert run_training(*args, **common, restart=True)["resumed_from"] is None


# ---- one-line errors through the CLI ---------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


def test_missing_corpus_file_is_one_line(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    missing = tmp_path / "nope.txt"
    code, err = run_cli(
        capsys, "adapt", "tokenizer", "train", "--base-model", str(tiny_model_dir), "--russian-train", str(missing),
        "--out-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert err == f"error: {missing}: no such corpus file"


def test_empty_corpus_is_one_line(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n\n\n\n", encoding="utf-8")
    code, err = run_cli(
        capsys, "adapt", "tokenizer", "train", "--base-model", str(tiny_model_dir), "--russian-train", str(empty),
        "--out-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("error: Russian training corpus: the corpus is empty") and "\n" not in err


def test_base_not_byte_level_bpe_is_one_line(tmp_path: Path, capsys) -> None:
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "привет": 1}, unk_token="[UNK]"))
    path = tmp_path / "tokenizer.json"
    wordpiece.save(str(path))
    corpus = write_corpus(tmp_path / "ru.txt", russian_docs(20))
    code, err = run_cli(
        capsys, "adapt", "tokenizer", "train", "--base-tokenizer", str(path), "--russian-train", str(corpus),
        "--out-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert err == f"error: {path}: not a byte-level BPE tokenizer (its model is WordPiece, not BPE)"


def test_missing_base_and_stage_order_are_one_line(tmp_path: Path, capsys) -> None:
    code, err = run_cli(capsys, "adapt", "tokenizer", "train", "--out-dir", str(tmp_path))
    assert (code, err) == (
        1,
        "error: adapt: set base_model (or base_tokenizer) in the config or with --base-model",
    )
    code, err = run_cli(
        capsys, "adapt", "tokenizer", "merge", "--base-model", "x", "--out-dir", str(tmp_path)
    )
    assert code == 1 and "run `specstack adapt tokenizer prune` first" in err and "\n" not in err


def test_config_section_and_flags(tmp_path: Path, capsys) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("adapt:\n  tokenizer: {vocab_size: 1000, coverag: 0.9}\n")
    code, err = run_cli(capsys, "adapt", "tokenizer", "train", "--config", str(path))
    assert code == 1 and err == f"error: {path}: adapt.tokenizer.coverag: unknown key"
    from adaptation.cli import load_adapt_config

    path.write_text("adapt:\n  base_model: base\n  tokenizer: {vocab_size: 1000}\n")
    cfg = load_adapt_config(
        path, {"tokenizer__coverage": 0.9, "corpora__russian_train": (Path("a"), Path("b"))}
    )
    assert cfg.tokenizer.vocab_size == 1000 and cfg.tokenizer.coverage == 0.9
    assert cfg.corpora.russian_train == [Path("a"), Path("b")] and cfg.base_model == Path("base")


def test_adapt_model_runs_the_chain_on_a_demo_corpus_layout(tmp_path: Path, tiny_model_dir: Path) -> None:
    from adaptation.pipeline import adapt_model

    text = tmp_path / "corpus" / "text"
    for name, docs in {
        "ru_train": russian_docs(200),
        "en_train": english_docs(100),
        "code_train": code_docs(50),
        "ru_heldout": russian_docs(4, seed=7),
        "en_heldout": english_docs(4, seed=8),
        "code_heldout": code_docs(4, seed=9),
    }.items():
        write_corpus(text / f"{name}.txt", docs)
    cfg = make_config(tmp_path, tiny_model_dir)
    final = adapt_model(tiny_model_dir, tmp_path / "corpus", tmp_path / "adapted", cfg)
    assert final == tmp_path / "adapted" / "model" / "unfreeze"
    summary = json.loads((tmp_path / "adapted" / "summary.json").read_text())
    assert summary["density"]["merged"]["vs_base"]["ru"] > 1.0
    assert set(summary["heldout_before"]) == set(summary["heldout_after"]) == {"ru", "en", "code"}
    assert set(summary["heldout_after_freeze"]) == {"ru"}
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(final), AutoTokenizer.from_pretrained(final)
    assert model.config.vocab_size == len(tokenizer) and tokenizer.chat_template
    assert model.config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_tied_embeddings_from_a_gguf_base_freeze_and_stay_tied(tmp_path: Path) -> None:
    """SmolLM2's case: a GGUF base whose lm_head is its embedding matrix. The freeze hooks and the
    no-decay rule act on the one shared matrix: old rows bit-identical, new rows trained, still tied."""
    from adaptation.pipeline import hf_base_model
    from tests.conftest import TINY_TEXTS
    from tests.tiny_models import write_tiny_llama_gguf

    write_tiny_llama_gguf(tmp_path / "base.gguf", TINY_TEXTS * 40)
    cfg = hf_base_model(make_config(tmp_path, tmp_path / "base.gguf"))
    for stage in (tokenizer_train_stage, tokenizer_prune_stage, tokenizer_merge_stage, embeddings_init_stage):
        stage(cfg)
    embeddings_stage(cfg, "freeze")
    lay = Layout(cfg.out_dir)
    before, after = weights(lay.init), weights(lay.freeze)
    assert "lm_head.weight" not in after, "tied: one matrix in the checkpoint"
    old = torch.tensor([b >= 0 for b in read_vocab_map(lay.init)])
    name = "model.embed_tokens.weight"
    assert torch.equal(after[name][old], before[name][old]), "old rows moved (decay or a missed hook)"
    assert (after[name][~old] != before[name][~old]).any(dim=1).float().mean() > 0.99
    stamp = json.loads((lay.freeze / "specstack_build.json").read_text())
    assert stamp["train"]["trainable_parameters"] == before[name].numel()
    assert json.loads((lay.freeze / "config.json").read_text())["tie_word_embeddings"] is True
