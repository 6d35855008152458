"""The TTT unroll equals step-by-step drafting the way the engine runs it (KV cache of verified rows)."""

from __future__ import annotations

import pytest
import torch

from draft_training.model import DraftHead, HeadShape, apply_rope, rope_cos_sin
from draft_training.vocab import DraftVocab

SHAPE = HeadShape(
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    max_position_embeddings=512,
    vocab_size=50,
    draft_vocab_size=20,
    target_hidden_size=32,
)


@pytest.fixture
def head() -> DraftHead:
    torch.manual_seed(0)
    vocab = DraftVocab(torch.sort(torch.randperm(50)[:20]).values, 50)
    h = DraftHead(SHAPE, vocab).double()
    for p in h.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return h.eval()


def engine_draft(
    head: DraftHead, h1: torch.Tensor, ids: torch.Tensor, t: int, steps: int
) -> list[torch.Tensor]:
    """`pre` of steps 1..steps for row t, computed like the engine: prefill rows 0..t (step 1) into a KV
    cache, then one chained step at a time, each appending its own key/value at the next position."""
    layer, s = head.midlayer, head.shape
    g = s.num_attention_heads // s.num_key_value_heads

    def qkv(tokens, hidden, positions):
        e = layer.input_layernorm(head.embed_tokens(tokens))
        x = torch.cat([e, layer.hidden_norm(hidden)], dim=-1)
        q = layer.self_attn.q_proj(x).view(len(tokens), s.num_attention_heads, s.head_dim).transpose(0, 1)
        k = layer.self_attn.k_proj(x).view(len(tokens), s.num_key_value_heads, s.head_dim).transpose(0, 1)
        v = layer.self_attn.v_proj(x).view(len(tokens), s.num_key_value_heads, s.head_dim).transpose(0, 1)
        cos, sin = rope_cos_sin(positions, s.head_dim, s.rope_theta)
        return apply_rope(q, cos.double(), sin.double()), apply_rope(k, cos.double(), sin.double()), v

    def finish(attn, hidden):
        r = layer.self_attn.o_proj(attn) + hidden
        return layer.mlp(layer.post_attention_layernorm(r)) + r

    # step 1 over rows 0..t: row i reads token ids[i+1] and the target state i, at position i
    rows = torch.arange(t + 1)
    q, k_cache, v_cache = qkv(ids[rows + 1], h1[: t + 1], rows)
    q_t = q[:, t : t + 1]
    outs, hidden = [], h1[t : t + 1]
    for j in range(1, steps + 1):
        if j > 1:  # the chained step: the drafted (here: the true) next token at the next position
            q_t, k_new, v_new = qkv(ids[t + j : t + j + 1], hidden, torch.tensor([t + j - 1]))
            k_cache, v_cache = torch.cat([k_cache, k_new], 1), torch.cat([v_cache, v_new], 1)
        kk, vv = k_cache.repeat_interleave(g, 0), v_cache.repeat_interleave(g, 0)
        w = torch.softmax(q_t @ kk.transpose(1, 2) / s.head_dim**0.5, dim=-1)
        attn = (w @ vv).transpose(0, 1).reshape(1, -1)
        hidden = finish(attn, hidden)
        outs.append(hidden[0])
    return outs


def test_ttt_unroll_matches_engine_style_step_by_step_drafting(head):
    T, steps = 12, 4
    torch.manual_seed(1)
    ids = torch.randint(0, 50, (1, T))
    h1 = torch.randn(1, T, 32, dtype=torch.float64)
    pres = head.unroll(h1, ids, steps)
    for t in range(T - steps):
        ref = engine_draft(head, h1[0], ids[0], t, steps)
        for j in range(steps):
            torch.testing.assert_close(pres[j][0, t], ref[j], rtol=1e-10, atol=1e-10)


def test_rows_never_see_later_rows(head):
    """Changing tokens/states after row t leaves every step of rows <= t unchanged."""
    T, steps = 10, 3
    torch.manual_seed(2)
    ids = torch.randint(0, 50, (2, T))
    h1 = torch.randn(2, T, 32, dtype=torch.float64)
    a = head.unroll(h1, ids, steps)
    ids2, h2 = ids.clone(), h1.clone()
    ids2[:, 7:] = (ids2[:, 7:] + 1) % 50
    h2[:, 7:] += 1.0
    b = head.unroll(h2, ids2, steps)
    for j in range(steps):  # row t of step j reads token t+j+1, so rows < 7 - (j+1) are untouched
        last = 7 - (j + 1)
        torch.testing.assert_close(a[j][:, :last], b[j][:, :last])


def test_draft_ids_map_to_target_ids(head):
    d = torch.arange(20)
    assert torch.equal(head.to_target_ids(d), head.draft_to_target)
    assert head.t2d.sum() == 20 and head.t2d[head.draft_to_target].all()


def test_batched_unroll_equals_per_sequence(head):
    torch.manual_seed(3)
    ids = torch.randint(0, 50, (3, 9))
    h1 = torch.randn(3, 9, 32, dtype=torch.float64)
    batched = head.unroll(h1, ids, 3)
    for b in range(3):
        single = head.unroll(h1[b : b + 1], ids[b : b + 1], 3)
        for j in range(3):
            torch.testing.assert_close(batched[j][b], single[j][0])


def test_unroll_from_a_start_row_equals_the_full_unroll(head):
    torch.manual_seed(4)
    ids = torch.randint(0, 50, (2, 14))
    h1 = torch.randn(2, 14, 32, dtype=torch.float64)
    full = head.unroll(h1, ids, 4)
    part = head.unroll(h1, ids, 4, start=5)
    for j in range(4):
        torch.testing.assert_close(part[j], full[j][:, 5:])


def test_skipping_prompt_rows_leaves_the_loss_and_gradients_unchanged(head, monkeypatch):
    from draft_training import train as T

    torch.manual_seed(5)
    B, L = 2, 16
    ids = torch.randint(0, 50, (B, L))
    mask = torch.zeros(B, L, dtype=torch.float64)
    mask[0, 11:] = 1
    mask[1, 9:14] = 1
    aux, logits = torch.randn(B, L, 96, dtype=torch.float64), torch.randn(B, L, 50, dtype=torch.float64)
    batch, weights = T.Batch(ids, mask), T.step_weights(3, 0.8)
    assert T.first_needed_row(mask, 3) == 5

    def loss_and_grads():
        head.zero_grad()
        loss, metrics = T.ttt_loss(head, aux, logits, batch, weights)
        loss.backward()
        return (
            loss.detach(),
            {n: p.grad.clone() for n, p in head.named_parameters() if p.grad is not None},
            metrics,
        )

    skipped = loss_and_grads()
    monkeypatch.setattr(T, "first_needed_row", lambda *_: 0)
    full = loss_and_grads()
    torch.testing.assert_close(skipped[0], full[0])
    for n in full[1]:
        torch.testing.assert_close(skipped[1][n], full[1][n])
    assert skipped[2]["acc_steps"] == full[2]["acc_steps"]
