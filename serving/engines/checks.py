"""Checks run before an engine starts, so the common mistakes fail in a second with a one-line cause.

Each check raises SpecstackError naming the path and what is wrong: a directory that is not a model, a draft
that cannot drive this target (hidden size, vocabulary, d2t mapping, aux layers), a head size vLLM's CPU
kernels lack, a port already taken. Only config files and safetensors headers are read, never weights.
"""

from __future__ import annotations

import errno
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from specstack.errors import SpecstackError

EAGLE3_ARCHITECTURES = {"LlamaForCausalLMEagle3", "Eagle3LlamaForCausalLM"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")


@dataclass(frozen=True)
class ModelInfo:
    """What the checks need from a model directory's config.json."""

    path: Path
    config: dict[str, Any]
    tensors: dict[str, list[int]]  # name -> shape, from safetensors headers

    @property
    def hidden_size(self) -> int:
        return int(self.config["hidden_size"])

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    @property
    def num_layers(self) -> int:
        return int(self.config.get("num_hidden_layers", 0))

    @property
    def head_dim(self) -> int:
        hd = self.config.get("head_dim")
        if hd:
            return int(hd)
        return self.hidden_size // int(self.config["num_attention_heads"])


def _read_config(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise SpecstackError(f"{path}: {what} directory does not exist")
    if not path.is_dir():
        raise SpecstackError(f"{path}: {what} must be a Hugging Face model directory, not a file")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise SpecstackError(f"{path}: not a model directory (no config.json)")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SpecstackError(f"{cfg_file}: unreadable config ({e})") from None
    if not isinstance(cfg, dict):
        raise SpecstackError(f"{cfg_file}: config must be a JSON object")
    for key in ("hidden_size", "vocab_size"):
        if not isinstance(cfg.get(key), int):
            raise SpecstackError(f"{cfg_file}: missing integer '{key}'")
    return cfg


def read_safetensors_header(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a .safetensors file's header (no tensor data is read).

    Opened with numpy as the framework: shapes are the same for every framework, and torch is not imported.
    """
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = f.keys()  # a safe_open handle is not iterable
            return {name: list(f.get_slice(name).get_shape()) for name in names}
    except (OSError, SafetensorError) as e:
        raise SpecstackError(f"{path}: not a readable safetensors file ({e})") from None


def _read_tensors(path: Path) -> dict[str, list[int]]:
    files = sorted(path.glob("*.safetensors"))
    if not files:
        if list(path.glob("pytorch_model*.bin")):
            return {}  # legacy weights: present, names not checked
        raise SpecstackError(f"{path}: no weights (*.safetensors or pytorch_model*.bin)")
    tensors: dict[str, list[int]] = {}
    for f in files:
        tensors.update(read_safetensors_header(f))
    return tensors


def _has_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    tok_cfg = path / "tokenizer_config.json"
    if tok_cfg.is_file():
        try:
            return bool(json.loads(tok_cfg.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, json.JSONDecodeError):
            return False
    return False


def check_target_dir(path: Path) -> ModelInfo:
    """A servable target: config.json, weights, a tokenizer and a chat template (chat and tools need it)."""
    path = Path(path)
    cfg = _read_config(path, "target model")
    tensors = _read_tensors(path)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise SpecstackError(f"{path}: no tokenizer (expected one of {', '.join(TOKENIZER_FILES)})")
    if not _has_chat_template(path):
        raise SpecstackError(
            f"{path}: no chat template (chat_template.jinja or tokenizer_config.json 'chat_template'); "
            "/v1/chat/completions and tool calls need it"
        )
    return ModelInfo(path, cfg, tensors)


def check_draft_dir(path: Path) -> ModelInfo:
    """An EAGLE-3 draft in the SpecForge/SGLang layout (architectures LlamaForCausalLMEagle3)."""
    path = Path(path)
    cfg = _read_config(path, "draft model")
    arch = set(cfg.get("architectures") or [])
    if not arch & EAGLE3_ARCHITECTURES:
        raise SpecstackError(
            f"{path}: not an EAGLE-3 draft (architectures {sorted(arch) or 'missing'}, "
            "expected LlamaForCausalLMEagle3)"
        )
    if int(cfg.get("num_hidden_layers", 1)) != 1:
        raise SpecstackError(
            f"{path}: an EAGLE-3 draft has num_hidden_layers 1, got {cfg.get('num_hidden_layers')}"
        )
    return ModelInfo(path, cfg, _read_tensors(path))


def _aux_layer_ids(cfg: dict[str, Any]) -> list[int] | None:
    ids = cfg.get("eagle_aux_hidden_state_layer_ids")
    if ids is None:
        ids = (cfg.get("eagle_config") or {}).get("eagle_aux_hidden_state_layer_ids")
    return list(ids) if ids is not None else None


def check_draft_matches(target: ModelInfo, draft: ModelInfo, engine: str) -> None:
    """The draft can drive this target: same vocabulary, fc sized for three target states, a valid d2t."""
    where = f"draft {draft.path} vs target {target.path}"
    if draft.vocab_size != target.vocab_size:
        raise SpecstackError(
            f"{where}: vocab_size {draft.vocab_size} != {target.vocab_size} (the draft was trained on another tokenizer)"
        )
    target_hidden = int(draft.config.get("target_hidden_size") or draft.hidden_size)
    if target_hidden != target.hidden_size:
        raise SpecstackError(
            f"{where}: the draft expects target hidden size {target_hidden}, the target has {target.hidden_size}"
        )
    fc = draft.tensors.get("fc.weight")
    if fc is not None and fc != [draft.hidden_size, 3 * target.hidden_size]:
        raise SpecstackError(
            f"{where}: fc.weight is {fc}, expected [{draft.hidden_size}, {3 * target.hidden_size}] (3 target states)"
        )
    draft_vocab = int(draft.config.get("draft_vocab_size") or draft.vocab_size)
    if draft_vocab > target.vocab_size:
        raise SpecstackError(f"{where}: draft_vocab_size {draft_vocab} exceeds the target vocabulary")
    if draft.tensors:
        has_d2t = "d2t" in draft.tensors
        if draft_vocab < target.vocab_size and not has_d2t:
            raise SpecstackError(
                f"{where}: draft_vocab_size {draft_vocab} < vocab but no d2t tensor maps draft ids"
            )
        if draft_vocab == target.vocab_size and has_d2t and engine == "vllm":
            raise SpecstackError(
                f"{where}: a d2t tensor with draft_vocab_size == vocab_size; vLLM refuses it "
                "(no 'draft_id_to_target_id' parameter): write the draft without d2t/t2d"
            )
        lm_head = draft.tensors.get("lm_head.weight")
        if lm_head is not None and lm_head[0] != draft_vocab:
            raise SpecstackError(
                f"{where}: lm_head.weight has {lm_head[0]} rows, draft_vocab_size is {draft_vocab}"
            )
    ids = _aux_layer_ids(draft.config)
    n = target.num_layers
    if ids is None and n:
        # Engines' default: inputs of layers 2, L//2, L-3. vLLM collects a state when its index is *in* the
        # list, so repeated ids yield fewer than three states and fc fails at the first request.
        default = (2, n // 2, n - 3)
        if len(set(default)) != 3 or min(default) < 1:
            raise SpecstackError(
                f"{where}: the target has {n} layers, so EAGLE-3's default aux layers (2, L//2, L-3) = "
                f"{default} are not three distinct layers; use a target with at least 7 layers or write "
                "eagle_aux_hidden_state_layer_ids in the draft config"
            )
    elif ids is not None:
        if len(ids) != 3 or len(set(ids)) != 3:
            raise SpecstackError(f"{where}: aux layer ids {ids} must be three distinct layers")
        if n and any(not 0 <= i <= n for i in ids):
            raise SpecstackError(f"{where}: aux layer ids {ids} outside the target's {n} layers")


def check_head_sizes(models: list[ModelInfo], supported: tuple[int, ...], engine_label: str) -> None:
    """Every model's attention head size is one the engine's kernels implement."""
    for m in models:
        if m.head_dim not in supported:
            raise SpecstackError(
                f"{m.path}: head_dim {m.head_dim} is not supported by {engine_label} (supported: "
                f"{', '.join(map(str, supported))})"
            )


def check_max_model_len(target: ModelInfo, max_model_len: int | None) -> None:
    limit = target.config.get("max_position_embeddings")
    if max_model_len is not None and isinstance(limit, int) and max_model_len > limit:
        raise SpecstackError(
            f"{target.path}: max_model_len {max_model_len} exceeds the model's max_position_embeddings {limit}"
        )


def check_port_free(host: str, port: int) -> None:
    """Nothing listens on host:port and it can be bound; else a one-line error naming the port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            raise SpecstackError(f"port {port} on {host} is already in use (another server listens there)")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SpecstackError(f"port {port} on {host} is already in use") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise SpecstackError(f"cannot bind {host}:{port}: no such local address") from None
            raise SpecstackError(f"cannot bind {host}:{port}: {e.strerror}") from None
