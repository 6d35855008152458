"""Capacity probe: the highest fixed arrival rate a deployment holds without a growing queue.

A step at rate r runs the open-loop scenario for a while and *holds* when (a) completions keep pace with
arrivals (achieved / sent rate >= min_achieved_ratio), (b) latency does not trend upward over the run
(median E2E of the last third / first third <= max_latency_growth) and (c) errors stay rare. The probe
climbs geometrically (r, r*f, r*f^2, ...) until a step fails, then bisects between the last rate held and
the first that failed. If even the start rate fails it walks down instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from loadtest.config import CapacityConfig

MAX_DESCENT = 6


def holds(summary: dict[str, Any], cfg: CapacityConfig) -> tuple[bool, str]:
    """Whether one fixed-rate step kept up, and why not."""
    sent = summary.get("sent") or 0
    if sent == 0:
        return False, "nothing sent"
    if (summary.get("errors", 0) + summary.get("dropped", 0)) / max(
        1, summary["requests"]
    ) > cfg.max_error_ratio:
        return False, f"errors {summary['errors']}/{summary['requests']}"
    rate = summary.get("rate") or {}
    sent_rate, achieved = rate.get("sent"), rate.get("achieved")
    if sent_rate and achieved is not None and achieved / sent_rate < cfg.min_achieved_ratio:
        return False, f"achieved {achieved:.2f}/s < sent {sent_rate:.2f}/s"
    growth = summary.get("latency_growth")
    if growth is not None and growth > cfg.max_latency_growth:
        return False, f"latency grew x{growth:.2f} over the run"
    return True, "held"


def probe(run_step: Callable[[float], dict[str, Any]], cfg: CapacityConfig) -> dict[str, Any]:
    """Run steps through `run_step(rate) -> summary`; returns {"rate": highest held or None, "steps": [...]}."""
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        summary = run_step(rate)
        ok, why = holds(summary, cfg)
        r = summary.get("rate") or {}
        steps.append({
            "rate": rate, "holds": ok, "reason": why, "sent_rate": r.get("sent"),
            "achieved_rate": r.get("achieved"), "latency_growth": summary.get("latency_growth"),
            "e2e_p50_ms": (summary.get("e2e_ms") or {}).get("p50"), "errors": summary.get("errors"),
        })  # fmt: skip
        return ok

    held: float | None = None
    failed: float | None = None
    rate = cfg.start_rate
    while rate <= cfg.max_rate:
        if step(rate):
            held = rate
            rate *= cfg.factor
        else:
            failed = rate
            break
    if held is None and failed is not None:
        rate = failed
        for _ in range(MAX_DESCENT):
            rate /= cfg.factor
            if step(rate):
                held = rate
                break
            failed = rate
    for _ in range(cfg.refine_steps):
        if held is None or failed is None or failed / held < 1.02:
            break
        mid = math.sqrt(held * failed)
        if step(mid):
            held = mid
        else:
            failed = mid
    return {
        "rate": held,
        "first_failed_rate": failed,
        "lower_bound_only": failed is None,
        "steps": steps,
    }
