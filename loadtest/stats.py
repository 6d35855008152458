"""Summaries of one phase's records: latency percentiles, throughput (output, input, total), goodput against
an SLO, offered vs achieved rate, τ, queue trend; and bootstrap confidence intervals for speedups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

PERCENTILES = (10, 50, 90, 95, 99)


def distribution(values: list[float]) -> dict[str, float] | None:
    """mean, median (p50), p10, p90, p95, p99, min, max and count of `values` (None when empty)."""
    if not values:
        return None
    a = np.asarray(values, dtype=float)
    out = {"count": len(a), "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}
    for p in PERCENTILES:
        out[f"p{p}"] = float(np.percentile(a, p))
    out["median"] = out["p50"]
    return out


def _rate(times: list[float]) -> float | None:
    """Events per second from their times: (n - 1) / span (None for fewer than 2 events or no span)."""
    if len(times) < 2:
        return None
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else None


def latency_growth(records: list[dict]) -> float | None:
    """Median E2E of the last third of requests (by send time) over that of the first third.

    Near 1 when the server keeps up; well above 1 when a queue builds during the run.
    """
    ok = sorted((r for r in records if r.get("ok")), key=lambda r: r["sent_s"])
    if len(ok) < 6:
        return None
    third = len(ok) // 3
    first = float(np.median([r["e2e_ms"] for r in ok[:third]]))
    last = float(np.median([r["e2e_ms"] for r in ok[-third:]]))
    return last / first if first > 0 else None


def tau_summary(records: list[dict]) -> dict[str, Any] | None:
    """Acceptance length over the phase: token-weighted (1 + Σaccepted / Σsteps) and per-request spread."""
    spec = [r for r in records if r.get("ok") and r.get("spec_steps")]
    if not spec:
        return None
    steps = sum(r["spec_steps"] for r in spec)
    accepted = sum(r.get("accepted_tokens") or 0 for r in spec)
    drafts = sum(r.get("draft_tokens") or 0 for r in spec)
    per_req = [r["tau"] for r in spec if r.get("tau") is not None]
    ks = {r.get("num_spec_tokens") for r in spec if r.get("num_spec_tokens") is not None}
    if accepted or spec[0].get("spec_source") == "vllm":
        tau = 1 + accepted / steps
    else:  # SGLang without accept counts: tokens per verify step
        tau = sum(r.get("output_tokens") or 0 for r in spec) / steps
    return {
        "tau": tau,
        "per_request": distribution(per_req),
        "acceptance_rate": accepted / drafts if drafts else None,
        "num_spec_tokens": max(ks) if ks else None,
        "requests": len(spec),
        "source": spec[0].get("spec_source"),
    }


BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    seed: int = 0,
) -> list[float] | None:
    """95% percentile-bootstrap interval of statistic(numerator) / statistic(denominator).

    Each sample's rows (requests; one column per quantity) are resampled with replacement, independently,
    `BOOTSTRAP_RESAMPLES` times; `statistic` maps an array of shape (resamples, rows, columns) to (resamples,).
    None when either sample has fewer than 2 rows."""
    if len(numerator) < 2 or len(denominator) < 2:
        return None
    rng = np.random.default_rng(seed)
    num = numerator[rng.integers(0, len(numerator), (BOOTSTRAP_RESAMPLES, len(numerator)))]
    den = denominator[rng.integers(0, len(denominator), (BOOTSTRAP_RESAMPLES, len(denominator)))]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = statistic(num) / statistic(den)
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return None
    tail = (1 - CONFIDENCE) / 2
    return [float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail))]


def token_rate_rows(records: list[dict]) -> np.ndarray:
    """(output tokens, E2E seconds) per successful request: a closed loop's throughput is their sums' ratio."""
    return np.array(
        [[r.get("output_tokens") or 0, r["e2e_ms"] / 1000] for r in records if r.get("ok")], dtype=float
    )


def e2e_rows(records: list[dict]) -> np.ndarray:
    return np.array([[r["e2e_ms"]] for r in records if r.get("ok")], dtype=float)


def sum_ratio(x: np.ndarray) -> np.ndarray:
    """Σ column 0 / Σ column 1 per resample (tokens per second of E2E)."""
    return x[..., 0].sum(-1) / x[..., 1].sum(-1)


def median_col0(x: np.ndarray) -> np.ndarray:
    return np.median(x[..., 0], axis=-1)


def goodput(
    records: list[dict], duration: float, ttft_ms: float | None, tpot_ms: float | None
) -> dict | None:
    """Requests that succeeded within the SLO (TTFT and TPOT at most the given ms; None: not checked): their
    share of the requests sent and their rate per second. None without an SLO."""
    if ttft_ms is None and tpot_ms is None:
        return None
    sent = [r for r in records if not r.get("dropped") and r.get("sent_s") is not None]
    good = [
        r for r in sent if r.get("ok")
        and (ttft_ms is None or (r.get("ttft_ms") is not None and r["ttft_ms"] <= ttft_ms))
        and (tpot_ms is None or r.get("tpot_ms") is None or r["tpot_ms"] <= tpot_ms)
    ]  # fmt: skip
    return {
        "ttft_ms": ttft_ms,
        "tpot_ms": tpot_ms,
        "good": len(good),
        "share": len(good) / len(sent) if sent else None,
        "rate": len(good) / duration if duration > 0 else None,
    }


def summarize(
    records: list[dict], wall_s: float | None = None, offered_rate: float | None = None,
    slo: dict[str, float | None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Everything the report says about one phase (times in ms, rates per second); `slo` (ttft_ms, tpot_ms)
    adds goodput."""
    sent = [r for r in records if not r.get("dropped") and r.get("sent_s") is not None]
    ok = [r for r in sent if r.get("ok")]
    errors = [r for r in records if not r.get("ok")]
    out_tokens = sum(r.get("output_tokens") or 0 for r in ok)
    in_tokens = sum(r.get("prompt_tokens") or 0 for r in ok)
    start = min((r["sent_s"] for r in sent), default=0.0)
    end = max((r["end_s"] for r in ok if r.get("end_s") is not None), default=start)
    duration = end - start
    summary: dict[str, Any] = {
        "requests": len(records),
        "sent": len(sent),
        "ok": len(ok),
        "errors": len(errors),
        "dropped": sum(1 for r in records if r.get("dropped")),
        "error_examples": sorted({str(r.get("error"))[:160] for r in errors})[:3],
        "duration_s": duration,
        "wall_s": wall_s,
        "output_tokens": out_tokens,
        "request_throughput": len(ok) / duration if duration > 0 else None,
        "output_throughput": out_tokens / duration if duration > 0 else None,
        "input_tokens": in_tokens,
        "input_throughput": in_tokens / duration if duration > 0 else None,
        "total_throughput": (in_tokens + out_tokens) / duration if duration > 0 else None,
        "mean_output_tokens": out_tokens / len(ok) if ok else None,
        "ttft_ms": distribution([r["ttft_ms"] for r in ok if r.get("ttft_ms") is not None]),
        "itl_ms": distribution([g for r in ok for g in r.get("itl_ms") or []]),
        "tpot_ms": distribution([r["tpot_ms"] for r in ok if r.get("tpot_ms") is not None]),
        "e2e_ms": distribution([r["e2e_ms"] for r in ok]),
        "tau": tau_summary(ok),
        "goodput": goodput(records, duration, **(slo or {"ttft_ms": None, "tpot_ms": None})),
    }
    if offered_rate is not None:
        sends = [r["sent_s"] for r in sent]
        ends = [r["end_s"] for r in ok if r.get("end_s") is not None]
        summary["rate"] = {
            "offered": offered_rate,
            "sent": _rate(sends),
            "achieved": _rate(ends),
            "lag_ms": distribution([r["lag_ms"] for r in sent if r.get("lag_ms") is not None]),
        }
        summary["latency_growth"] = latency_growth(ok)
    return summary
