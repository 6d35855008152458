"""PNG plots of a load-test report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLORS = {"spec": "tab:orange", "plain": "tab:blue", "gateway": "tab:green"}
STYLES = {"spec": "-", "plain": "--", "gateway": ":"}


def _phases(report: dict, kind: str, deployment: str) -> list[dict]:
    return [p for p in report["phases"] if p["kind"] == kind and p["deployment"] == deployment]


def _pct(summary: dict, metric: str, key: str) -> float:
    d = summary.get(metric) or {}
    return d.get(key, np.nan) if d else np.nan


def _batch_axis(ax: Any, levels: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels)
    ax.set_xticklabels([str(c) for c in levels])
    ax.set_xlabel("concurrency (batch size)")
    ax.grid(True, alpha=0.3)


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def latency_vs_batch(report: dict, out: Path) -> str | None:
    deps = [d for d in report["deployments"] if _phases(report, "sweep", d)]
    if not deps:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    levels: set[int] = set()
    for dep in deps:
        phases = sorted(_phases(report, "sweep", dep), key=lambda p: p["concurrency"])
        xs = [p["concurrency"] for p in phases]
        levels.update(xs)
        for ax, metric, title in zip(axes, ("e2e_ms", "ttft_ms", "tpot_ms"), ("E2E", "TTFT", "TPOT (per token)"),
                                     strict=True):  # fmt: skip
            for key, alpha in (("p50", 1.0), ("p90", 0.6), ("p99", 0.35)):
                ys = [_pct(p["summary"], metric, key) for p in phases]
                ax.plot(xs, ys, STYLES.get(dep, "-"), marker="o", color=COLORS.get(dep), alpha=alpha,
                        label=f"{dep} {key}")  # fmt: skip
            ax.set_title(f"{title} percentiles vs batch size")
            ax.set_ylabel("ms")
    for ax in axes:
        _batch_axis(ax, sorted(levels))
        ax.set_yscale("log")
    axes[0].legend(fontsize=7, ncol=2)
    return _save(fig, out / "latency_vs_batch.png")


def speedup_vs_batch(report: dict, out: Path) -> str | None:
    rows = report["comparison"]["sweep"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["concurrency"] for r in rows]
    ax.plot(
        xs,
        [r["speedup"] or np.nan for r in rows],
        "-o",
        color="tab:red",
        label="output throughput spec / plain",
    )
    ax.plot(xs, [r["speedup_e2e_p50"] or np.nan for r in rows], "--s", color="tab:purple", alpha=0.7,
            label="median E2E plain / spec")  # fmt: skip
    if any(r.get("speedup_gateway") is not None for r in rows):
        ax.plot(xs, [r.get("speedup_gateway") or np.nan for r in rows], ":^", color=COLORS["gateway"],
                label="gateway pool / plain (throughput)")  # fmt: skip
    ax.axhline(1.0, color="gray", lw=1)
    stop = report["summary"].get("stops_paying_at")
    if stop:
        ax.axvline(stop, color="gray", ls=":", label=f"stops paying at {stop}")
    ax.set_ylabel("speedup (x)")
    ax.set_title("Speculative decoding speedup vs batch size")
    _batch_axis(ax, xs)
    ax.legend(fontsize=8)
    return _save(fig, out / "speedup_vs_batch.png")


def tau_vs_batch(report: dict, out: Path) -> str | None:
    rows = [
        r
        for r in report["comparison"]["sweep"]
        if r.get("tau") is not None or r.get("tau_metrics") is not None
    ]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["concurrency"] for r in rows]
    ax.plot(xs, [r.get("tau") or np.nan for r in rows], "-o", color=COLORS["spec"], label="τ, token-weighted")
    lo = [r.get("tau_p10") if r.get("tau_p10") is not None else np.nan for r in rows]
    hi = [r.get("tau_p90") if r.get("tau_p90") is not None else np.nan for r in rows]
    ax.fill_between(xs, lo, hi, color=COLORS["spec"], alpha=0.2, label="per-request p10-p90")
    if any(r.get("tau_metrics") is not None for r in rows):
        ax.plot(
            xs, [r.get("tau_metrics") or np.nan for r in rows], "x", color="k", label="τ from engine /metrics"
        )
    k = report["summary"].get("num_spec_tokens")
    ax.set_ylim(1.0, (k + 1.2) if k else None)
    ax.set_ylabel("acceptance length τ (tokens per verify step)")
    ax.set_title("Acceptance length vs batch size")
    _batch_axis(ax, xs)
    ax.legend(fontsize=8)
    return _save(fig, out / "tau_vs_batch.png")


def fixed_rate_latency(report: dict, out: Path) -> str | None:
    comps = report["comparison"]["fixed_rate"]
    if not comps:
        return None
    fig, axes = plt.subplots(len(comps), 2, figsize=(12, 4 * len(comps)), squeeze=False)
    recs = report.get("_records", {})
    for row, comp in zip(axes, comps, strict=True):
        for ax, metric, title in zip(row, ("e2e_ms", "ttft_ms"), ("E2E", "TTFT"), strict=True):
            for dep, phase_id in comp["phases"].items():
                vals = np.sort(
                    [r[metric] for r in recs.get(phase_id, []) if r.get("ok") and r.get(metric) is not None]
                )
                if len(vals):
                    ax.plot(vals, np.arange(1, len(vals) + 1) / len(vals), STYLES.get(dep, "-"),
                            color=COLORS.get(dep), label=f"{dep} (median {np.median(vals):.0f} ms)")  # fmt: skip
            ax.set_xlabel(f"{title} (ms)")
            ax.set_ylabel("fraction of requests")
            rate = "all at once" if comp["rate"] is None else f"{comp['rate']:.3g} req/s"
            ax.set_title(f"{title} distribution, {rate} ({comp['label']})")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    return _save(fig, out / "fixed_rate_latency.png")


def offered_vs_achieved(report: dict, out: Path) -> str | None:
    open_phases = [
        p for p in report["phases"] if p["scenario"] == "open" and (p["summary"].get("rate") or {})
    ]
    if not open_phases:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    top = 0.0
    for dep in report["deployments"]:
        ps = sorted((p for p in open_phases if p["deployment"] == dep), key=lambda p: p["rate"])
        if not ps:
            continue
        xs = [p["rate"] for p in ps]
        ach = [p["summary"]["rate"].get("achieved") or np.nan for p in ps]
        sent = [p["summary"]["rate"].get("sent") or np.nan for p in ps]
        ax.plot(xs, ach, "o", color=COLORS.get(dep), label=f"{dep}: achieved (completions/s)")
        ax.plot(xs, sent, "+", color=COLORS.get(dep), label=f"{dep}: sent (arrivals/s)")
        top = max(top, *xs, *[v for v in ach + sent if v == v])
    ax.plot([0, top * 1.05], [0, top * 1.05], color="gray", lw=1, label="achieved = offered")
    cap = (report.get("capacity") or {}).get("rate")
    if cap:
        ax.axvline(cap, color="gray", ls=":", label=f"capacity {cap:.3g} req/s")
    ax.set_xlabel("offered rate (req/s)")
    ax.set_ylabel("rate (req/s)")
    ax.set_title("Offered vs achieved rate (did the server keep up?)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out / "offered_vs_achieved.png")


def write_plots(report: dict, out_dir: str | Path) -> list[str]:
    """Write every plot the report has data for; returns their file names."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for fn in (latency_vs_batch, speedup_vs_batch, tau_vs_batch, fixed_rate_latency, offered_vs_achieved):
        name = fn(report, out)
        if name:
            made.append(name)
    return made
