"""Write and read the draft checkpoint exactly as ../shared/ARCHITECTURE.md fixes it.

config.json: `LlamaForCausalLMEagle3`, Llama fields, one layer, `vocab_size` = target vocab,
`draft_vocab_size`, `target_hidden_size` only when it differs, untied embeddings, `rope_theta`. Aux layer ids
are written only when they differ from the engines' default (inputs of layers 2, L//2, L-3), and then as
input-of-layer ids, top-level and under `eagle_config` (vLLM reads either; SGLang reads `eagle_config`).
model.safetensors: fc, midlayer.*, norm, lm_head, embed_tokens (a copy of the target's), and d2t/t2d only
when the draft vocabulary is smaller than the target's (vLLM refuses them otherwise).
specstack_head.json (ignored by the engines): head type, aux ids as trained, vocabulary coverage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from draft_training.model import DraftHead, HeadShape
from draft_training.target import default_aux_ids
from draft_training.vocab import DraftVocab
from specstack.errors import SpecstackError
from specstack.io import atomic_directory

EAGLE3_ARCH = "LlamaForCausalLMEagle3"
ABLATION_ARCH = "SpecstackEagle2Ablation"  # no engine serves it: offline evaluation only
HEAD_INFO = "specstack_head.json"
WEIGHTS = "model.safetensors"


def checkpoint_config(
    s: HeadShape, aux_ids: list[int], num_target_layers: int, head_type: str, token_ids: dict[str, Any]
) -> dict[str, Any]:
    """The config.json of a draft head."""
    cfg: dict[str, Any] = {
        "architectures": [EAGLE3_ARCH if head_type == "eagle3" else ABLATION_ARCH],
        "model_type": "llama",
        "hidden_size": s.hidden_size,
        "intermediate_size": s.intermediate_size,
        "num_attention_heads": s.num_attention_heads,
        "num_key_value_heads": s.num_key_value_heads,
        "head_dim": s.head_dim,
        "hidden_act": s.hidden_act,
        "rms_norm_eps": s.rms_norm_eps,
        "rope_theta": s.rope_theta,
        "max_position_embeddings": s.max_position_embeddings,
        "num_hidden_layers": 1,
        "vocab_size": s.vocab_size,
        "draft_vocab_size": s.draft_vocab_size,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
        **token_ids,
    }
    if s.target_hidden_size != s.hidden_size:
        cfg["target_hidden_size"] = s.target_hidden_size
    if head_type == "eagle3" and list(aux_ids) != default_aux_ids(num_target_layers):
        cfg["eagle_aux_hidden_state_layer_ids"] = list(aux_ids)
        cfg["eagle_config"] = {"eagle_aux_hidden_state_layer_ids": list(aux_ids)}
    return cfg


def checkpoint_tensors(head: DraftHead) -> dict[str, torch.Tensor]:
    """Tensors under the contract's names (float32, contiguous)."""
    out = {k: v.detach().float().contiguous().cpu() for k, v in head.state_dict().items()}
    vocab = head.vocab
    if not vocab.is_identity:
        out["d2t"] = vocab.d2t.contiguous()
        out["t2d"] = vocab.t2d.contiguous()
    return out


def write_checkpoint(
    head: DraftHead,
    out_dir: str | Path,
    *,
    aux_ids: list[int],
    num_target_layers: int,
    head_type: str,
    token_ids: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write the draft directory atomically (a kill leaves the previous one or the new one)."""
    cfg = checkpoint_config(head.shape, aux_ids, num_target_layers, head_type, token_ids or {})
    tensors = checkpoint_tensors(head)
    meta = {"head_type": head_type, "aux_layer_ids": list(aux_ids), "num_target_layers": num_target_layers}
    with atomic_directory(out_dir) as tmp:
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt"})
        (tmp / HEAD_INFO).write_text(
            json.dumps({**meta, **(info or {})}, indent=2, ensure_ascii=False) + "\n"
        )
    return Path(out_dir)


def token_ids_of(target_config) -> dict[str, Any]:
    """bos/eos/pad ids copied from the target config (engines read them from the draft config too)."""
    return {k: getattr(target_config, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}


def read_tensors(model_dir: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the directory's safetensors files."""
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise SpecstackError(f"{model_dir}: no safetensors files")
    out = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for k in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                out[k] = f.get_tensor(k)
    return out


def shape_from_config(cfg: dict[str, Any], tensors: dict[str, torch.Tensor]) -> HeadShape:
    """The HeadShape a draft config.json describes (ours, or a SpecForge/transformers-5 one)."""
    target_hidden = cfg.get("target_hidden_size") or cfg["hidden_size"]
    rope = cfg.get("rope_parameters") or {}
    return HeadShape(
        hidden_size=cfg["hidden_size"],
        intermediate_size=cfg["intermediate_size"],
        num_attention_heads=cfg["num_attention_heads"],
        num_key_value_heads=cfg["num_key_value_heads"],
        head_dim=cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"],
        rms_norm_eps=cfg["rms_norm_eps"],
        rope_theta=float(cfg.get("rope_theta") or rope.get("rope_theta") or 10000.0),
        max_position_embeddings=cfg["max_position_embeddings"],
        vocab_size=cfg["vocab_size"],
        draft_vocab_size=cfg.get("draft_vocab_size") or cfg["vocab_size"],
        target_hidden_size=target_hidden,
        num_aux=tensors["fc.weight"].shape[1] // target_hidden,
    )


def load_draft(model_dir: str | Path, embed: torch.Tensor | None = None) -> tuple[DraftHead, dict[str, Any]]:
    """A DraftHead from a draft directory, and its head info (type, aux ids as input-of-layer ids)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise SpecstackError(f"{model_dir}: no draft checkpoint here (config.json missing); train one first")
    cfg = json.loads((model_dir / "config.json").read_text())
    info_path = model_dir / HEAD_INFO
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if "aux_layer_ids" not in info:  # a draft from elsewhere: vLLM's reading of its config
        info["aux_layer_ids"] = cfg.get("eagle_aux_hidden_state_layer_ids")
    tensors = read_tensors(model_dir)
    s = shape_from_config(cfg, tensors)
    vocab = DraftVocab.from_d2t(tensors["d2t"], s.vocab_size) if "d2t" in tensors else None
    head = DraftHead(s, vocab)
    state = {k: v for k, v in tensors.items() if k not in ("d2t", "t2d")}
    if "embed_tokens.weight" not in state:
        if embed is None:
            raise SpecstackError(f"{model_dir}: no embed_tokens.weight; pass the target's embedding")
        state["embed_tokens.weight"] = embed
    head.load_state_dict(state, strict=True)
    return head.eval(), info
