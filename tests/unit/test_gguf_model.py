"""GGUF base models: a file written as llama.cpp writes one reads back into an HF dir with the same logits."""

from __future__ import annotations

import pytest
import torch

from adaptation.gguf_model import convert_gguf, describe_gguf, is_gguf
from specstack.errors import SpecstackError
from tests.conftest import TINY_TEXTS
from tests.tiny_models import write_tiny_llama_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    model = write_tiny_llama_gguf(path, TINY_TEXTS * 40)
    return path, model


def test_converted_gguf_model_computes_what_it_was_written_from(tiny_gguf, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, original = tiny_gguf
    info = convert_gguf(path, tmp_path / "hf")
    assert info["source"]["tensor_types"] == {"F32": 2 + 9 * 2}
    assert info["source"]["pre_tokenizer"] == "smollm" and info["pre_tokenizer_restored"]
    assert info["parameters"] == sum(p.numel() for p in original.parameters())
    assert (tmp_path / "hf" / "model.safetensors").stat().st_size > 0
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf"), dtype=torch.float32).eval()
    assert "quantization_config" not in model.config.to_dict()
    assert model.config.tie_word_embeddings
    ids = torch.randint(0, original.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, original(ids).logits, atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert "Digits" in str(tokenizer.backend_tokenizer.pre_tokenizer), "SmolLM's digit split restored"
    assert [t for t in tokenizer.tokenize("цена 1250") if t.isdigit()] == ["1", "2", "5", "0"]
    assert tokenizer.chat_template


def test_a_gguf_base_model_is_converted_once_by_the_adaptation(tiny_gguf, tmp_path):
    from adaptation.config import AdaptConfig
    from adaptation.pipeline import hf_base_model

    cfg = AdaptConfig(base_model=tiny_gguf[0], out_dir=tmp_path)
    hf = hf_base_model(cfg)
    assert hf.base_model == tmp_path / "base" and (hf.base_model / "config.json").is_file()
    mtime = (hf.base_model / "model.safetensors").stat().st_mtime_ns
    assert hf_base_model(cfg).base_model == hf.base_model
    assert (hf.base_model / "model.safetensors").stat().st_mtime_ns == mtime, "cached, not converted again"
    plain = AdaptConfig(base_model=hf.base_model, out_dir=tmp_path)
    assert hf_base_model(plain) is plain


def test_bad_gguf_files_are_one_line_errors(tmp_path):
    assert is_gguf("m.GGUF") and not is_gguf(tmp_path) and not is_gguf(None)
    with pytest.raises(SpecstackError, match="no such GGUF file"):
        describe_gguf(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(SpecstackError, match="not a readable GGUF file"):
        convert_gguf(junk, tmp_path / "out")
