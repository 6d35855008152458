"""Offline acceptance length τ of greedy chain drafting, simulated exactly as the engine runs it.

The target continues each held-out prompt greedily. At every verify step the engine's drafter sits on the
last verified row p (target state of position p, bonus token x[p+1]) and drafts k tokens by chaining
`pre`; the target accepts the longest prefix equal to its own greedy tokens, plus one bonus token, and
drafting resumes on the new last row. Draft j of row p only depends on earlier drafts through the tokens
fed back, which equal the target's tokens whenever they are accepted, so one TTT unroll over the whole
sequence with the target's tokens gives every draft the engine could make; the walk then counts.

Like vLLM, acceptance is counted on the verify step's full draft even when the request stops inside it
(max tokens or EOS), so the continuation is generated k tokens past the stop, EOS ignored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from draft_training.config import DraftConfig
from draft_training.data import heldout_prompts, load_tokenizer
from draft_training.export import load_draft
from draft_training.model import DraftHead
from draft_training.target import Target, resolve_aux_ids
from specstack.cache import config_hash
from specstack.errors import SpecstackError
from specstack.io import atomic_write_json
from specstack.progress import progress_bar


@dataclass
class TauResult:
    """τ per chain length k and per-position acceptance rates (share of verify steps accepting >= i)."""

    tau: dict[int, float]
    position_acceptance: dict[int, list[float]]
    verify_steps: dict[int, int]
    prompts: int
    tokens: int
    draft: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def match_matrix(
    head: DraftHead, target: Target, ids: list[int], aux_ids: list[int], max_k: int
) -> np.ndarray:
    """bool [max_k, T]: draft j (1-based) of row t equals the target's token x[t+j+1]."""
    x = torch.tensor([ids], device=head.lm_head.weight.device)  # the head stays float32
    feats = target.features(x, aux_ids)
    with torch.no_grad():
        pres = head.unroll(head.project(feats.aux), x, max_k)
        T = len(ids)
        match = np.zeros((max_k, T), dtype=bool)
        for j, pre in enumerate(pres, 1):
            draft = head.to_target_ids(head.logits(pre).argmax(-1))[0].cpu().numpy()
            n = T - j - 1
            if n > 0:
                match[j - 1, :n] = draft[:n] == np.asarray(ids[j + 1 :])
    return match


def walk(match: np.ndarray, start: int, length: int, k: int) -> list[int]:
    """Accepted drafts per verify step for a request that produces `length` tokens from row `start`."""
    accepted, produced, p = [], 1, start  # the prefill already produced the first token
    while produced < length:
        a = 0
        while a < k and match[a, p]:
            a += 1
        accepted.append(a)
        produced += a + 1
        p += a + 1
    return accepted


def tau_from_walks(walks: list[list[int]], k: int) -> tuple[float, list[float], int]:
    """Mean tokens per verify step (bonus included) and per-position acceptance over all requests."""
    steps = [a for w in walks for a in w]
    if not steps:
        return 1.0, [0.0] * k, 0
    arr = np.asarray(steps)
    return float(1 + arr.mean()), [float((arr >= i).mean()) for i in range(1, k + 1)], len(steps)


def continuations(cfg: DraftConfig, target: Target, prompts: list[list[int]]) -> list[list[int]]:
    """Greedy continuations of the prompts (max_new_tokens + max_k, EOS ignored), cached in run_dir."""
    n = cfg.eval.max_new_tokens + cfg.eval.max_k
    weights = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(cfg.target_model).glob("*.safetensors")
    )
    key = config_hash(
        {"target": str(Path(cfg.target_model).resolve()), "w": weights, "prompts": prompts, "n": n}
    )
    path = Path(cfg.run_dir) / "eval" / f"continuations-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())["continuations"]
    outs = []
    with progress_bar() as bar:
        task = bar.add_task("target greedy", total=len(prompts), status=f"{n} tokens each")
        for p in prompts:
            outs.append(target.generate_greedy(p, n))
            bar.advance(task)
    atomic_write_json(path, {"prompts": prompts, "continuations": outs})
    return outs


def request_length(cont: list[int], max_new_tokens: int, eos_ids: set[int]) -> int:
    """Tokens the engine returns for this request: up to max_new_tokens, or through the first EOS."""
    for i, t in enumerate(cont[:max_new_tokens]):
        if t in eos_ids:
            return i + 1
    return max_new_tokens


def eos_ids_of(target_dir: str | Path, tok) -> set[int]:
    """EOS ids the engine stops on: the generation config's, else the tokenizer's."""
    gen = Path(target_dir) / "generation_config.json"
    ids = json.loads(gen.read_text()).get("eos_token_id") if gen.is_file() else None
    if ids is None:
        ids = tok.eos_token_id
    return set(ids if isinstance(ids, list) else [ids])


def evaluate(cfg: DraftConfig, draft_dir: str | Path | None = None) -> TauResult:
    """τ(k) for k = 1..eval.max_k of the draft in `draft_dir` (default cfg.output_dir) on cfg.eval_data."""
    if not cfg.eval_data:
        raise SpecstackError("draft eval needs eval_data (a held-out SFT JSONL) in the draft config")
    draft_dir = Path(draft_dir or cfg.output_dir)
    target = Target(cfg.target_model)
    head, info = load_draft(draft_dir, embed=target.embed.detach().float().cpu())
    head.to(target.model.device)
    head_type = info.get("head_type", "eagle3")
    aux_ids = info.get("aux_layer_ids") or resolve_aux_ids(None, target.num_layers, head_type)
    tok = load_tokenizer(cfg.target_model)
    prompts = heldout_prompts(cfg.eval_data, tok, cfg.eval.num_prompts, cfg.max_length)
    conts = continuations(cfg, target, prompts)
    eos = eos_ids_of(cfg.target_model, tok)
    K = cfg.eval.max_k
    walks: dict[int, list[list[int]]] = {k: [] for k in range(1, K + 1)}
    tokens = 0
    with progress_bar() as bar:
        task = bar.add_task("draft τ", total=len(prompts), status=draft_dir.name)
        for prompt, cont in zip(prompts, conts, strict=True):
            length = request_length(cont, cfg.eval.max_new_tokens, eos)
            tokens += length
            match = match_matrix(head, target, prompt + cont, aux_ids, K)
            for k in walks:
                walks[k].append(walk(match, len(prompt) - 1, length, k))
            bar.advance(task)
    tau, pos, steps = {}, {}, {}
    for k, w in walks.items():
        tau[k], pos[k], steps[k] = tau_from_walks(w, k)
    return TauResult(tau, pos, steps, len(prompts), tokens, str(draft_dir), {"head_type": head_type})


def render_table(results: dict[str, TauResult]) -> str:
    """A Markdown table: one row per draft, one column per k."""
    ks = sorted(next(iter(results.values())).tau)
    lines = ["| draft | " + " | ".join(f"τ k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r.tau[k]:.2f}" for k in ks) + " |")
    return "\n".join(lines)


def render_positions(r: TauResult, k: int) -> str:
    """Per-position acceptance rates of the chain of length k, as a Markdown table."""
    head = "| position | " + " | ".join(str(i) for i in range(1, k + 1)) + " |"
    return "\n".join(
        [
            head,
            "|---|" + "---|" * k,
            "| accepted | " + " | ".join(f"{x:.2f}" for x in r.position_acceptance[k]) + " |",
        ]
    )
