"""A random-weight EAGLE-3 draft for a target, in the SpecForge/SGLang layout vLLM and SGLang load.

A test helper, for smoke tests of the serving path before a trained draft exists: it proposes junk, so
τ stays near 1 (only the bonus token), but the engine runs the full speculative step, and greedy output
must still equal plain greedy output. Trained drafts come from draft_training/.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from specstack.io import atomic_directory


def write_random_eagle3_draft(
    target_dir: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    draft_vocab_size: int | None = None,
    intermediate_size: int | None = None,
) -> Path:
    """Write `out_dir` (config.json + model.safetensors) sized for `target_dir`.

    By default the draft vocabulary is the target's (no d2t/t2d) and the MLP is as wide as the target's; a
    smaller `draft_vocab_size` keeps the first target ids (with d2t/t2d), as a pruned vocabulary would.
    """
    target_dir, out_dir = Path(target_dir), Path(out_dir)
    t = json.loads((target_dir / "config.json").read_text())
    h = int(t["hidden_size"])
    heads = int(t["num_attention_heads"])
    kv = int(t.get("num_key_value_heads", heads))
    hd = int(t.get("head_dim") or h // heads)
    inter = int(intermediate_size or t["intermediate_size"])
    vocab = int(t["vocab_size"])
    dvocab = min(int(draft_vocab_size or vocab), vocab)
    rope = t.get("rope_parameters") or {}
    rope_theta = float(rope.get("rope_theta", t.get("rope_theta", 10000.0)))
    config = {
        "architectures": ["LlamaForCausalLMEagle3"],
        "model_type": "llama",
        "hidden_size": h,
        "intermediate_size": inter,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "head_dim": hd,
        "hidden_act": "silu",
        "rms_norm_eps": float(t.get("rms_norm_eps", 1e-6)),
        "rope_theta": rope_theta,
        "max_position_embeddings": int(t.get("max_position_embeddings", 2048)),
        "num_hidden_layers": 1,
        "vocab_size": vocab,
        "draft_vocab_size": dvocab,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    g = torch.Generator().manual_seed(seed)

    def w(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=g) * 0.02).contiguous()

    tensors = {
        "fc.weight": w(h, 3 * h),
        "midlayer.input_layernorm.weight": torch.ones(h),
        "midlayer.hidden_norm.weight": torch.ones(h),
        "midlayer.post_attention_layernorm.weight": torch.ones(h),
        "midlayer.self_attn.q_proj.weight": w(heads * hd, 2 * h),
        "midlayer.self_attn.k_proj.weight": w(kv * hd, 2 * h),
        "midlayer.self_attn.v_proj.weight": w(kv * hd, 2 * h),
        "midlayer.self_attn.o_proj.weight": w(h, heads * hd),
        "midlayer.mlp.gate_proj.weight": w(inter, h),
        "midlayer.mlp.up_proj.weight": w(inter, h),
        "midlayer.mlp.down_proj.weight": w(h, inter),
        "norm.weight": torch.ones(h),
        "lm_head.weight": w(dvocab, h),
        "embed_tokens.weight": w(vocab, h),
    }
    if dvocab < vocab:  # target_id = draft_id + d2t[draft_id]; the first dvocab target ids
        tensors["d2t"] = torch.zeros(dvocab, dtype=torch.int64)
        t2d = torch.zeros(vocab, dtype=torch.bool)
        t2d[:dvocab] = True
        tensors["t2d"] = t2d
    with atomic_directory(out_dir) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    return out_dir
