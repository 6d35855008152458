"""The frozen target: its aux hidden states (the head's input) and its logits (the head's soft labels).

`hidden_states[i]` of transformers' `output_hidden_states` is the input of decoder layer i ([0] is the
embedding output), which is what vLLM hands the drafter for id i and what SGLang captures by default.
Offline mode writes per-conversation features to disk once and reads them back instead of running the
target each step: the aux states plus the target's last normed hidden state, from which the logits are
recomputed with the target's lm_head (a small matmul instead of a full forward).
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM

from draft_training.data import TokenizedData
from specstack.cache import config_hash, is_built, write_stamp
from specstack.errors import SpecstackError
from specstack.io import atomic_write_bytes
from specstack.progress import progress_bar


def default_aux_ids(num_layers: int) -> list[int]:
    """The engines' shared default: inputs of layers 2, L//2 and L-3."""
    return [2, num_layers // 2, num_layers - 3]


def resolve_aux_ids(aux_ids: list[int] | None, num_layers: int, head_type: str) -> list[int]:
    """hidden_states indices the head reads: 3 aux layers (EAGLE-3) or the last normed state (EAGLE-2)."""
    if head_type == "eagle2":
        return [num_layers]
    ids = aux_ids or default_aux_ids(num_layers)
    if any(b <= a for a, b in itertools.pairwise(ids)):
        raise SpecstackError(
            f"the default aux layers {ids} of a {num_layers}-layer target are not distinct; set aux_layer_ids"
        )
    if max(ids) >= num_layers:
        raise SpecstackError(
            f"aux_layer_ids {ids}: the target has only {num_layers} layers (ids must be < L)"
        )
    return ids


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def target_config(model_dir: str | Path):
    """The target's transformers config."""
    return AutoConfig.from_pretrained(str(model_dir))


@dataclass
class Features:
    """Target outputs for a batch: aux states [B, T, n*H] and next-token logits [B, T, V]."""

    aux: torch.Tensor
    logits: torch.Tensor


class Target:
    """A frozen causal LM that returns the states the head reads and the logits it imitates."""

    def __init__(self, model_dir: str | Path, device: torch.device | str | None = None):
        device = torch.device(device or default_device())
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # the engines' GPU dtype
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).to(device)
        self.model.eval().requires_grad_(False)
        self.config = self.model.config
        self.num_layers = self.config.num_hidden_layers

    @property
    def embed(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight

    @property
    def lm_head(self) -> torch.Tensor:
        return self.model.get_output_embeddings().weight

    @property
    def final_norm(self) -> torch.Tensor:
        return self.model.model.norm.weight

    @torch.no_grad()
    def hidden_states(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """transformers' hidden_states: [0] embeddings, [i] input of layer i, [L] the final normed state."""
        return self.model.model(input_ids=input_ids, output_hidden_states=True, use_cache=False).hidden_states

    @torch.no_grad()
    def features(self, input_ids: torch.Tensor, aux_ids: list[int]) -> Features:
        """Aux states at `aux_ids` and logits (float32); right padding is harmless (causal attention)."""
        hs = self.hidden_states(input_ids)
        return Features(
            torch.cat([hs[i] for i in aux_ids], dim=-1).float(), self.model.lm_head(hs[-1]).float()
        )

    @torch.no_grad()
    def generate_greedy(self, prompt: list[int], max_new_tokens: int) -> list[int]:
        """Greedy continuation of `prompt`, EOS ignored (the caller decides where the request stops)."""
        out = self.model(torch.tensor([prompt], device=self.model.device), use_cache=True)
        tokens: list[int] = []
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(nxt))
            out = self.model(nxt, past_key_values=out.past_key_values, use_cache=True)
        return tokens


def load_lm_head(model_dir: str | Path) -> torch.Tensor:
    """The target's lm_head weight read straight from its safetensors (the embedding when tied)."""
    model_dir = Path(model_dir)
    cfg = target_config(model_dir)
    key = "model.embed_tokens.weight" if getattr(cfg, "tie_word_embeddings", False) else "lm_head.weight"
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            if key in f.keys():  # noqa: SIM118 (safe_open has no __contains__)
                return f.get_tensor(key).float()
    raise SpecstackError(f"{model_dir}: no {key} in its safetensors")


class OfflineFeatures:
    """Per-conversation target features on disk: `dir/<k:05d>/<i:06d>.pt` with aux and last states (bf16)."""

    def __init__(self, root: str | Path, lm_head: torch.Tensor):
        self.root = Path(root)
        self.lm_head = lm_head

    @staticmethod
    def path(root: Path, i: int) -> Path:
        return root / f"{i // 1000:05d}" / f"{i:06d}.pt"

    @classmethod
    def dump(
        cls,
        target_dir: str | Path,
        data: TokenizedData,
        aux_ids: list[int],
        root: str | Path,
        device: torch.device | str | None = None,
    ) -> Path:
        """Run the target over every conversation once; resumable (finished files are kept)."""
        root = Path(root)
        key = config_hash({"target": str(Path(target_dir).resolve()), "aux": aux_ids, "n": len(data),
                           "ids": int(data.ids.sum()), "len": int(data.offsets[-1])})  # fmt: skip
        if is_built(root, key):
            return root
        target = Target(target_dir, device)
        with progress_bar() as bar:
            task = bar.add_task("target features", total=len(data), status=str(root))
            for i in range(len(data)):
                path = cls.path(root, i)
                if not path.exists():
                    ids, _ = data.item(i)
                    hs = target.hidden_states(
                        torch.from_numpy(ids.astype("int64"))[None].to(target.model.device)
                    )
                    aux = torch.cat([hs[j] for j in aux_ids], dim=-1)[0]
                    blob = io.BytesIO()
                    torch.save({"aux": aux.bfloat16().cpu(), "last": hs[-1][0].bfloat16().cpu()}, blob)
                    atomic_write_bytes(path, blob.getvalue())
                bar.advance(task)
        write_stamp(root, key, conversations=len(data), aux_layer_ids=aux_ids)
        return root

    def batch(self, indices: list[int], length: int) -> Features:
        """Features of conversations `indices`, right-padded with zeros to `length`."""
        auxs, lasts = [], []
        for i in indices:
            f = torch.load(self.path(self.root, i), weights_only=True)
            pad = length - f["aux"].shape[0]
            auxs.append(torch.nn.functional.pad(f["aux"].float(), (0, 0, 0, pad)))
            lasts.append(torch.nn.functional.pad(f["last"].float(), (0, 0, 0, pad)))
        last = torch.stack(lasts).to(self.lm_head.device)
        return Features(torch.stack(auxs).to(self.lm_head.device), last @ self.lm_head.T)
