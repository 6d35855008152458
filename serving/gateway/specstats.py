"""Per-request speculative-decoding statistics, read from what the engines already put in responses.

- vLLM (`--per-request-spec-decode-metrics summary`): `metrics.speculative_decoding` with
  `mean_acceptance_length`, `num_spec_steps`, `num_draft_tokens`, `num_accepted_draft_tokens`, ... in a
  response body, and in the final usage chunk of a stream.
- SGLang: `meta_info` (`spec_verify_ct`, `spec_accept_token_num`, `spec_draft_token_num`,
  `completion_tokens`), at the top level or per choice (`return_meta_info: true`); newer versions also
  `sglext.spec_tokens_details` (`spec_verify_ct`, `spec_num_correct_drafts`, `spec_num_proposed_drafts`,
  `spec_accept_length`).

τ (the acceptance length) is tokens produced per verify step, bonus token included: what both engines
report. The gateway only reads these blocks; responses reach clients with them untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SpecStats:
    """One request's speculative statistics."""

    verify_steps: int
    draft_tokens: int  # proposed by the draft
    accepted_tokens: int  # draft tokens the target accepted (bonus tokens not included)
    acceptance_length: float  # τ: tokens per verify step, bonus included
    engine: str  # "vllm" | "sglang"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _from_vllm(block: dict) -> SpecStats | None:
    steps = _int(block.get("num_spec_steps"))
    if steps <= 0:
        return None
    accepted = _int(block.get("num_accepted_draft_tokens"))
    tau = block.get("mean_acceptance_length")
    tau = float(tau) if isinstance(tau, int | float) else 1.0 + accepted / steps
    return SpecStats(steps, _int(block.get("num_draft_tokens")), accepted, tau, "vllm")


def _from_sglang_meta(metas: list[dict]) -> SpecStats | None:
    steps = sum(_int(m.get("spec_verify_ct")) for m in metas)
    if steps <= 0:
        return None
    completion = sum(_int(m.get("completion_tokens")) for m in metas)
    has_accept = any("spec_accept_token_num" in m for m in metas)
    accepted = (
        sum(_int(m.get("spec_accept_token_num")) for m in metas) if has_accept else max(0, completion - steps)
    )
    drafted = sum(_int(m.get("spec_draft_token_num")) for m in metas)
    tau = completion / steps if completion else 1.0 + accepted / steps
    return SpecStats(steps, drafted, accepted, tau, "sglang")


def _from_sglang_details(details: dict) -> SpecStats | None:
    steps = _int(details.get("spec_verify_ct"))
    if steps <= 0:
        return None
    accepted = _int(details.get("spec_num_correct_drafts"))
    tau = details.get("spec_accept_length")
    tau = float(tau) if isinstance(tau, int | float) and tau > 0 else 1.0 + accepted / steps
    return SpecStats(steps, _int(details.get("spec_num_proposed_drafts")), accepted, tau, "sglang")


def spec_stats(payload: dict) -> SpecStats | None:
    """The statistics in a response body or stream chunk, whichever engine wrote them; None if absent."""
    metrics = payload.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("speculative_decoding"), dict):
        return _from_vllm(metrics["speculative_decoding"])
    ext = payload.get("sglext")
    if isinstance(ext, dict) and isinstance(ext.get("spec_tokens_details"), dict):
        return _from_sglang_details(ext["spec_tokens_details"])
    meta = payload.get("meta_info")
    if isinstance(meta, dict):
        return _from_sglang_meta([meta])
    choices = payload.get("choices")
    if isinstance(choices, list):
        metas = [
            c["meta_info"] for c in choices if isinstance(c, dict) and isinstance(c.get("meta_info"), dict)
        ]
        if metas:
            return _from_sglang_meta(metas)
    return None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_of(payload: dict) -> Usage | None:
    """The OpenAI `usage` block of a body or chunk, if it carries one."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
