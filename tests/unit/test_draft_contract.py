"""The exported draft against its readers: SpecForge 0.2.0's draft class (same logits), and the weight-name
rules of SGLang's and vLLM's `LlamaForCausalLMEagle3` loaders (every tensor lands on a parameter).

SpecForge must be importable here (dev extra: `pip install --no-deps specforge==0.2.0`); without it this
module fails instead of skipping, so CI cannot silently lose the contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig

from draft_training.export import load_draft, read_tensors, write_checkpoint
from draft_training.model import DraftHead, HeadShape
from draft_training.vocab import DraftVocab

V, H, N = 96, 32, 40
SHAPE = HeadShape(
    hidden_size=H,
    intermediate_size=48,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    rms_norm_eps=1e-6,
    rope_theta=50000.0,
    max_position_embeddings=256,
    vocab_size=V,
    draft_vocab_size=N,
    target_hidden_size=H,
)


def random_head(shape: HeadShape, seed: int = 0) -> DraftHead:
    torch.manual_seed(seed)
    vocab = (
        DraftVocab(
            torch.sort(torch.randperm(shape.vocab_size)[: shape.draft_vocab_size]).values, shape.vocab_size
        )
        if shape.draft_vocab_size < shape.vocab_size
        else None
    )
    head = DraftHead(shape, vocab)
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return head.eval()


@pytest.fixture(params=[N, V], ids=["pruned-vocab", "full-vocab"])
def exported(request, tmp_path) -> tuple[DraftHead, Path]:
    from dataclasses import replace

    head = random_head(replace(SHAPE, draft_vocab_size=request.param))
    out = write_checkpoint(
        head, tmp_path / "draft", aux_ids=[2, 4, 5], num_target_layers=8, head_type="eagle3"
    )
    return head, out


@pytest.fixture
def no_compile():
    """SpecForge's RMSNorm is torch.compile'd (a C compiler on CPU); run it eagerly, as TORCHDYNAMO_DISABLE=1."""
    import torch._dynamo

    with torch._dynamo.config.patch(disable=True):
        yield


def specforge_model(draft_dir: Path):
    from specforge.modeling.draft.llama3_eagle import LlamaForCausalLMEagle3

    model = LlamaForCausalLMEagle3(LlamaConfig.from_pretrained(str(draft_dir)), attention_backend="sdpa")
    missing, unexpected = model.load_state_dict(read_tensors(draft_dir), strict=False)
    return model.eval(), missing, unexpected


def test_specforge_loads_the_export_and_gives_the_same_logits(exported, no_compile):
    head, out = exported
    sf, missing, unexpected = specforge_model(out)
    assert unexpected == []
    assert missing == ([] if head.shape.draft_vocab_size < V else ["t2d", "d2t"])
    if head.shape.draft_vocab_size < V:
        assert torch.equal(sf.d2t, head.d2t) and torch.equal(sf.t2d, head.t2d)
    B, T, steps = 2, 10, 3
    torch.manual_seed(1)
    aux, ids = torch.randn(B, T, 3 * H), torch.randint(0, V, (B, T))
    # ours: row t of step 1 reads token x[t+1]; SpecForge's row t reads ids[t], so shift by one
    x = torch.cat([torch.zeros(B, 1, dtype=torch.long), ids], 1)
    with torch.no_grad():
        ours = [
            head.logits(p)[:, :T]
            for p in head.unroll(head.project(torch.cat([aux, aux[:, :1]], 1)), x, steps)
        ]
        ref1 = sf.lm_head(sf(aux, sf.embed_input_ids(ids)))  # SpecForge's plain forward: one step
        torch.testing.assert_close(ours[0], ref1, rtol=1e-5, atol=1e-5)
        # SpecForge's training unroll (sdpa backend with cached keys): steps 2..n feed the previous output
        hidden = sf.project_hidden_states(aux)
        mask = sf.prepare_decoder_attention_mask(torch.ones(B, T, dtype=torch.bool), hidden, B, T, 0)
        cache, pos, cur = [[], []], torch.arange(T)[None], ids
        for j in range(steps):
            hidden = sf.backbone(sf.embed_input_ids(cur), hidden, cache, mask, pos, None, True)
            valid = T - j  # rows whose step-j token exists
            torch.testing.assert_close(
                ours[j][:, :valid], sf.compute_logits(hidden)[:, :valid], rtol=1e-5, atol=1e-5
            )
            cur = torch.cat([cur[:, 1:], torch.zeros(B, 1, dtype=torch.long)], 1)


def test_load_draft_round_trip(exported):
    head, out = exported
    again, info = load_draft(out)
    assert info["head_type"] == "eagle3" and info["aux_layer_ids"] == [2, 4, 5]
    for k, v in head.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    assert torch.equal(again.draft_to_target, head.draft_to_target)


# --- SGLang: python/sglang/srt/models/llama_eagle3.py, LlamaForCausalLMEagle3.load_weights -----------------
# Its parameters for a one-layer draft (q/k/v fused into qkv_proj, gate/up into gate_up_proj), and its rules:
# a name with d2t becomes hot_token_id = d2t + arange; a name with t2d is dropped on purpose; a stacked
# shard name is renamed and prefixed with "model." when not a parameter; any other name is used as is or
# with "model."; a name that matches no parameter is skipped SILENTLY.
SGLANG_STACKED = [
    (".qkv_proj", ".q_proj", "q"),
    (".qkv_proj", ".k_proj", "k"),
    (".qkv_proj", ".v_proj", "v"),
    (".gate_up_proj", ".gate_proj", 0),
    (".gate_up_proj", ".up_proj", 1),
]


def sglang_params(s: HeadShape) -> dict[str, tuple[int, ...]]:
    q, kv = s.num_attention_heads * s.head_dim, s.num_key_value_heads * s.head_dim
    m = "model.midlayer."
    return {
        "model.embed_tokens.weight": (s.vocab_size, s.hidden_size),
        "model.fc.weight": (s.hidden_size, 3 * s.target_hidden_size),
        m + "self_attn.qkv_proj.weight": (q + 2 * kv, 2 * s.hidden_size),
        m + "self_attn.o_proj.weight": (s.hidden_size, q),
        m + "mlp.gate_up_proj.weight": (2 * s.intermediate_size, s.hidden_size),
        m + "mlp.down_proj.weight": (s.hidden_size, s.intermediate_size),
        m + "input_layernorm.weight": (s.hidden_size,),
        m + "hidden_norm.weight": (s.hidden_size,),
        m + "post_attention_layernorm.weight": (s.hidden_size,),
        "model.norm.weight": (s.hidden_size,),
        "lm_head.weight": (s.draft_vocab_size, s.hidden_size),
    }


def sglang_load(tensors: dict[str, torch.Tensor], params: dict[str, tuple[int, ...]]) -> dict:
    """Replay SGLang's name rules; returns rows consumed per parameter, hot ids and the skipped names."""
    rows: dict[str, int] = {}
    skipped, hot = [], None
    for name, w in tensors.items():
        if "d2t" in name:
            hot = w + torch.arange(w.shape[0])
            continue
        if "t2d" in name:
            continue
        for param_name, weight_name, _ in SGLANG_STACKED:
            if weight_name not in name:
                continue
            name = name.replace(weight_name, param_name)
            target = f"model.{name}" if name not in params else name
            break
        else:
            target = name if name in params else f"model.{name}"
        if target not in params:
            skipped.append(name)
            continue
        assert tuple(w.shape[1:]) == params[target][1:], name
        rows[target] = rows.get(target, 0) + w.shape[0]
    return {"rows": rows, "hot": hot, "skipped": skipped}


def test_every_tensor_maps_to_an_sglang_parameter(exported):
    head, out = exported
    params = sglang_params(head.shape)
    got = sglang_load(read_tensors(out), params)
    assert got["skipped"] == []
    assert got["rows"] == {k: v[0] for k, v in params.items()}  # every parameter filled, fused ones whole
    if head.shape.draft_vocab_size < V:
        assert torch.equal(got["hot"], head.draft_to_target)


# --- vLLM 0.32: vllm/model_executor/models/llama_eagle3.py, Eagle3LlamaForCausalLM.load_weights ------------
# t2d dropped; d2t -> draft_id_to_target_id (a parameter only when draft vocab < target vocab); names
# without lm_head get "model."; then midlayer. -> layers.0., q/k/v -> qkv_proj, gate/up -> gate_up_proj.
# An unknown name raises, so a d2t at full vocabulary makes the server fail to start.
def vllm_params(s: HeadShape) -> set[str]:
    names = {k.replace("midlayer.", "layers.0.") for k in sglang_params(s)}
    if s.draft_vocab_size != s.vocab_size:
        names.add("draft_id_to_target_id")
    return names


def vllm_names(tensors: dict[str, torch.Tensor]) -> list[str]:
    out = []
    for name in tensors:
        if "t2d" in name:
            continue
        if "d2t" in name:
            name = name.replace("d2t", "draft_id_to_target_id")
        elif "lm_head" not in name:
            name = "model." + name
        name = name.replace("midlayer.", "layers.0.")
        for a, b in ((".q_proj", ".qkv_proj"), (".k_proj", ".qkv_proj"), (".v_proj", ".qkv_proj")):
            name = name.replace(a, b)
        for a, b in ((".gate_proj", ".gate_up_proj"), (".up_proj", ".gate_up_proj")):
            name = name.replace(a, b)
        out.append(name)
    return out


def test_every_tensor_maps_to_a_vllm_parameter(exported):
    head, out = exported
    names = vllm_names(read_tensors(out))
    assert set(names) == vllm_params(head.shape)
    assert set(names) - vllm_params(head.shape) == set()  # nothing vLLM would refuse
