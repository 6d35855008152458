"""Read a GGUF checkpoint (llama.cpp's file format) into a plain Hugging Face model directory.

transformers reads GGUF (`from_pretrained(dir, gguf_file=NAME)`: config, tokenizer and dequantised
weights) but refuses to save what it read ("quantized with GGUF ... not serializable"). So the weights are
moved into a model built from the same config without its `quantization_config` (every key must match)
and saved as safetensors, with the tokenizer and its chat template next to them.

One thing the conversion loses is put back: GGUF names the tokenizer's pre-tokenizer by a short tag
(`tokenizer.ggml.pre`), which transformers ignores, writing a plain GPT-2 byte-level split. For the tags
in `PRE_TOKENIZERS` the original Hugging Face pipeline is restored (SmolLM's splits every digit on its
own, so a tokenizer trained on its pipeline learns no multi-digit tokens the model never saw).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Literal

from specstack.errors import SpecstackError

# GGUF `tokenizer.ggml.pre` tag -> the pre-tokenizer of the model's original tokenizer.json.
PRE_TOKENIZERS: dict[str, dict] = {
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ],
    },
}

Dtype = Literal["float32", "bfloat16"]


def is_gguf(path: str | Path | None) -> bool:
    """Whether `path` names a GGUF file (by its suffix)."""
    return path is not None and Path(path).suffix.lower() == ".gguf"


def _field(reader, name: str):
    field = reader.fields.get(name)
    return None if field is None else field.contents()


def describe_gguf(path: str | Path) -> dict:
    """What a GGUF file holds: architecture, name, licence, tensor types and a sha256 of the file."""
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise SpecstackError(f"{path}: no such GGUF file")
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as e:
        raise SpecstackError(f"{path}: not a readable GGUF file ({e})") from None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
        "architecture": _field(reader, "general.architecture"),
        "name": _field(reader, "general.name"),
        "license": _field(reader, "general.license"),
        "pre_tokenizer": _field(reader, "tokenizer.ggml.pre"),
        "tensor_types": dict(Counter(t.tensor_type.name for t in reader.tensors).most_common()),
    }


def _restore_pre_tokenizer(tokenizer, tag: str | None) -> bool:
    """Put back the original pre-tokenizer for a known GGUF tag; True when one was restored."""
    from tokenizers import Tokenizer

    if tag not in PRE_TOKENIZERS:
        return False
    backend = tokenizer.backend_tokenizer
    data = json.loads(backend.to_str())
    data["pre_tokenizer"] = PRE_TOKENIZERS[tag]
    restored = Tokenizer.from_str(json.dumps(data))
    backend.pre_tokenizer = restored.pre_tokenizer
    return True


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, dtype: Dtype = "float32") -> dict:
    """Write `gguf_path` as an HF model dir (safetensors, tokenizer, chat template) into `out_dir`.

    float32 keeps the dequantised weights exactly; bfloat16 halves the files. Returns `describe_gguf` of
    the source plus what the conversion did; a file transformers cannot read is a one-line error.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    source = describe_gguf(gguf_path)
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as e:
        raise SpecstackError(f"{gguf_path}: transformers cannot read this GGUF model ({e})") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = plain.load_state_dict(loaded.state_dict(), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SpecstackError(
            f"{gguf_path}: the dequantised weights do not fit {type(plain).__name__} "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    if plain.config.tie_word_embeddings:
        plain.tie_weights()
    plain.to(getattr(torch, dtype)).save_pretrained(str(out_dir), safe_serialization=True)
    restored = _restore_pre_tokenizer(tokenizer, source["pre_tokenizer"])
    tokenizer.save_pretrained(str(out_dir))
    return {
        "source": source,
        "dequantised_to": dtype,
        "pre_tokenizer_restored": restored,
        "parameters": sum(p.numel() for p in plain.parameters()),
        "vocab_size": len(tokenizer),
    }
