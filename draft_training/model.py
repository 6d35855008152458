"""The EAGLE-3 draft head, computing exactly what vLLM's `Eagle3LlamaForCausalLM` and SGLang's
`LlamaForCausalLMEagle3` compute at serving time:

    h   = fc(concat of the target's aux hidden states)          (step 1; later steps get `pre`)
    x   = concat(input_layernorm(embed(token)), hidden_norm(h))  (embedding first, width 2*hidden)
    r   = o_proj(attention with RoPE over x) + h
    pre = mlp(post_attention_layernorm(r)) + r
    logits = lm_head(norm(pre))                                  (over the draft vocabulary)

Module names are the checkpoint's tensor names (`fc`, `midlayer.*`, `norm`, `lm_head`, `embed_tokens`).

Chained drafting (`unroll`): step j of row t takes token x[t+j], the previous step's `pre`, and position
t+j-1 (vLLM advances positions by one per draft step). Its query attends to the step-1 keys of rows <= t
(the drafter's KV cache of verified tokens) and to the keys of steps 2..j of row t itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from draft_training.vocab import DraftVocab


@dataclass(frozen=True)
class HeadShape:
    """Architecture of a draft head (what config.json records)."""

    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position_embeddings: int
    vocab_size: int  # the target's
    draft_vocab_size: int
    target_hidden_size: int
    num_aux: int = 3  # 3 target layers for EAGLE-3; 1 (last layer) for the EAGLE-2 ablation
    hidden_act: str = "silu"

    @classmethod
    def from_target(
        cls, target_config, draft_vocab_size: int, num_aux: int = 3, intermediate_size: int | None = None
    ) -> HeadShape:
        """A head as wide as the target, with the target's attention layout and RoPE base."""
        cfg = target_config
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        return cls(
            hidden_size=cfg.hidden_size,
            intermediate_size=intermediate_size or cfg.intermediate_size,
            num_attention_heads=cfg.num_attention_heads,
            num_key_value_heads=cfg.num_key_value_heads,
            head_dim=head_dim,
            rms_norm_eps=cfg.rms_norm_eps,
            rope_theta=rope_theta_of(cfg),
            max_position_embeddings=cfg.max_position_embeddings,
            vocab_size=cfg.vocab_size,
            draft_vocab_size=draft_vocab_size,
            target_hidden_size=cfg.hidden_size,
            num_aux=num_aux,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def rope_theta_of(config) -> float:
    """RoPE base of a transformers config (v5 `rope_parameters` or legacy `rope_theta`)."""
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return float(getattr(config, "rope_theta", 10000.0))


class RMSNorm(nn.Module):
    """Llama RMSNorm: normalise in float32, scale in the input dtype."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Neox-style (rotate-half) RoPE tables for `positions` [T] -> cos, sin [T, head_dim]."""
    inv_freq = 1.0 / (
        theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    )
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the last dim of x [..., T, D] by the tables [T, D]."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)  # in the input dtype, as HF and vLLM do


def ttt_attention(
    q: torch.Tensor,
    k1: torch.Tensor,
    v1: torch.Tensor,
    ks: list[torch.Tensor],
    vs: list[torch.Tensor],
    start: int = 0,
) -> torch.Tensor:
    """Attention of one unroll step for rows start..T-1.

    q [B, KV, G, R, D] (query heads grouped by their key/value head; R = T - start rows); k1, v1
    [B, KV, T, D] are the step-1 keys/values of all rows (causal: row t sees rows <= t); ks, vs hold the
    same rows' own keys/values of steps 2..j (row t sees only row t). Returns [B, R, KV*G*D].
    """
    B, KV, G, R, D = q.shape
    T = k1.shape[2]
    scale = D**-0.5
    scores = torch.einsum("bkgtd,bksd->bkgts", q, k1) * scale
    rows = torch.arange(start, start + R, device=q.device)
    causal = torch.arange(T, device=q.device)[None, :] <= rows[:, None]
    scores = scores.masked_fill(~causal, float("-inf"))
    if ks:
        own = torch.stack([(q * k.unsqueeze(2)).sum(-1) for k in ks], dim=-1) * scale  # [B,KV,G,T,j-1]
        scores = torch.cat([scores, own], dim=-1)
    probs = torch.softmax(scores.to(torch.promote_types(q.dtype, torch.float32)), dim=-1).to(q.dtype)
    out = torch.einsum("bkgts,bksd->bkgtd", probs[..., :T], v1)
    for i, v in enumerate(vs):
        out = out + probs[..., T + i, None] * v.unsqueeze(2)
    return out.permute(0, 3, 1, 2, 4).reshape(B, R, KV * G * D)


class Attention(nn.Module):
    """Llama attention whose q/k/v read the 2*hidden concatenation (embedding ++ hidden state)."""

    def __init__(self, s: HeadShape):
        super().__init__()
        self.s = s
        self.q_proj = nn.Linear(2 * s.hidden_size, s.num_attention_heads * s.head_dim, bias=False)
        self.k_proj = nn.Linear(2 * s.hidden_size, s.num_key_value_heads * s.head_dim, bias=False)
        self.v_proj = nn.Linear(2 * s.hidden_size, s.num_key_value_heads * s.head_dim, bias=False)
        self.o_proj = nn.Linear(s.num_attention_heads * s.head_dim, s.hidden_size, bias=False)

    def qkv(self, x: torch.Tensor, positions: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, ...]:
        """q [B,KV,G,R,D] of rows start..T-1, k and v [B,KV,T,D] of all rows, RoPE at `positions` [T]."""
        s = self.s
        B, T, _ = x.shape
        kv, g, d = s.num_key_value_heads, s.num_attention_heads // s.num_key_value_heads, s.head_dim
        q = self.q_proj(x[:, start:]).view(B, T - start, kv, g, d).permute(0, 2, 3, 1, 4)
        k = self.k_proj(x).view(B, T, kv, d).transpose(1, 2)
        v = self.v_proj(x).view(B, T, kv, d).transpose(1, 2)
        cos, sin = rope_cos_sin(positions, d, s.rope_theta)
        return apply_rope(q, cos[start:], sin[start:]), apply_rope(k, cos, sin), v


class MLP(nn.Module):
    """SwiGLU."""

    def __init__(self, s: HeadShape):
        super().__init__()
        self.gate_proj = nn.Linear(s.hidden_size, s.intermediate_size, bias=False)
        self.up_proj = nn.Linear(s.hidden_size, s.intermediate_size, bias=False)
        self.down_proj = nn.Linear(s.intermediate_size, s.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MidLayer(nn.Module):
    """The head's single decoder layer (`midlayer.*` in the checkpoint)."""

    def __init__(self, s: HeadShape):
        super().__init__()
        self.input_layernorm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.hidden_norm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.self_attn = Attention(s)
        self.post_attention_layernorm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.mlp = MLP(s)


class DraftHead(nn.Module):
    """EAGLE-3 draft head with the target's frozen embedding and a draft-vocabulary lm_head."""

    def __init__(self, s: HeadShape, vocab: DraftVocab | None = None):
        super().__init__()
        self.shape = s
        self.embed_tokens = nn.Embedding(s.vocab_size, s.hidden_size)
        self.embed_tokens.weight.requires_grad_(False)  # shared with the target, never trained
        self.fc = nn.Linear(s.num_aux * s.target_hidden_size, s.hidden_size, bias=False)
        self.midlayer = MidLayer(s)
        self.norm = RMSNorm(s.hidden_size, s.rms_norm_eps)
        self.lm_head = nn.Linear(s.hidden_size, s.draft_vocab_size, bias=False)
        vocab = vocab or DraftVocab.identity(s.vocab_size)
        if vocab.size != s.draft_vocab_size or vocab.target_vocab_size != s.vocab_size:
            raise ValueError("draft vocabulary does not match the head shape")
        self.register_buffer("d2t", vocab.d2t, persistent=False)
        self.register_buffer("t2d", vocab.t2d, persistent=False)
        self.register_buffer("draft_to_target", vocab.target_ids.clone(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Llama-style init: linears N(0, 0.02), norms 1."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
            elif isinstance(m, RMSNorm):
                nn.init.ones_(m.weight)

    @torch.no_grad()
    def init_from_target(self, embed: torch.Tensor, lm_head: torch.Tensor, final_norm: torch.Tensor) -> None:
        """Copy the target's embedding, its lm_head rows for the draft vocabulary and its final norm."""
        self.embed_tokens.weight.copy_(embed)
        self.lm_head.weight.copy_(lm_head[self.draft_to_target])
        self.norm.weight.copy_(final_norm)

    @property
    def vocab(self) -> DraftVocab:
        return DraftVocab(self.draft_to_target.cpu(), self.shape.vocab_size)

    def project(self, aux: torch.Tensor) -> torch.Tensor:
        """fc over the concatenated aux states [B, T, num_aux*target_hidden] -> [B, T, hidden]."""
        return self.fc(aux)

    def step(
        self,
        tokens: torch.Tensor,
        hidden: torch.Tensor,
        positions: torch.Tensor,
        cache: list[tuple[torch.Tensor, torch.Tensor]],
        start: int = 0,
    ) -> torch.Tensor:
        """One unroll step; appends its keys/values to `cache`; returns `pre` of rows start..

        Step 1 (empty cache) gets every row, computes keys/values for all of them (they are the context of
        every later query) and queries, attention and MLP only for rows start..; later steps get rows
        start.. only.
        """
        layer = self.midlayer
        x = torch.cat([layer.input_layernorm(self.embed_tokens(tokens)), layer.hidden_norm(hidden)], dim=-1)
        q_start = start if not cache else 0
        q, k, v = layer.self_attn.qkv(x, positions, q_start)
        cache.append((k, v))
        (k1, v1), own = cache[0], cache[1:]
        attn = ttt_attention(q, k1, v1, [k for k, _ in own], [v for _, v in own], start)
        r = layer.self_attn.o_proj(attn) + hidden[:, q_start:]
        return layer.mlp(layer.post_attention_layernorm(r)) + r

    def unroll(
        self, h: torch.Tensor, input_ids: torch.Tensor, steps: int, start: int = 0
    ) -> list[torch.Tensor]:
        """Training-time-test unroll: `pre` of steps 1..steps for rows start..T-1 ([B, T - start, hidden]).

        h [B, T, hidden] is fc(aux) (aux state of position t in row t); row t of step j (1-based) reads
        token input_ids[t + j] (0 past the end) at position t + j - 1. Rows before `start` only provide
        step-1 keys and values (the context): training skips rows that cannot reach an assistant token.
        """
        T = input_ids.shape[1]
        cache: list[tuple[torch.Tensor, torch.Tensor]] = []
        outs = []
        for j in range(1, steps + 1):
            s = 0 if j == 1 else start
            tokens = F.pad(input_ids[:, j:], (0, j), value=0)[:, s:]
            positions = torch.arange(s, T, device=input_ids.device) + (j - 1)
            h = self.step(tokens, h, positions, cache, start)
            outs.append(h)
        return outs

    def logits(self, pre: torch.Tensor) -> torch.Tensor:
        """Draft-vocabulary logits of `pre`."""
        return self.lm_head(self.norm(pre))

    def to_target_ids(self, draft_ids: torch.Tensor) -> torch.Tensor:
        """Map draft ids to target ids (target = draft + d2t[draft])."""
        return draft_ids + self.d2t[draft_ids]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every trained tensor (the frozen embedding left out)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("embed_tokens")}
