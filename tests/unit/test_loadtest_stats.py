"""Load-test statistics: bootstrap intervals for speedups, goodput against an SLO, input/total throughput, and
the report showing each comparison's sample size and interval."""

from __future__ import annotations

import json

import numpy as np
import pytest

from loadtest.config import LoadtestConfig
from loadtest.report import build_report, write_report
from loadtest.stats import bootstrap_ratio, goodput, median_col0, sum_ratio, summarize, token_rate_rows


def record(phase: str, e2e_ms: float, tokens: int = 32, i: int = 0, sent_s: float = 0.0, **kw) -> dict:
    return {"phase": phase, "deployment": phase.split("/")[1], "index": i, "ok": True, "sent_s": sent_s,
            "end_s": sent_s + e2e_ms / 1000, "e2e_ms": e2e_ms, "ttft_ms": 10.0, "tpot_ms": e2e_ms / tokens,
            "output_tokens": tokens, "prompt_tokens": 100, **kw}  # fmt: skip


def test_the_bootstrap_interval_covers_the_true_ratio_and_narrows_with_more_requests():
    rng = np.random.default_rng(1)
    widths = []
    for n in (8, 128):
        plain = np.column_stack([np.full(n, 32.0), rng.normal(2.0, 0.3, n)])  # ~16 tokens per second
        spec = np.column_stack([np.full(n, 32.0), rng.normal(1.0, 0.15, n)])  # ~32: a 2x speedup
        lo, hi = bootstrap_ratio(spec, plain, sum_ratio)
        assert lo < 2.0 < hi or abs((lo + hi) / 2 - 2.0) < 0.1
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2  # 16x the requests: about a quarter of the width
    assert bootstrap_ratio(spec[:1], plain, sum_ratio) is None  # one request is no sample
    lo, hi = bootstrap_ratio(
        np.array([[200.0], [210.0], [190.0]]), np.array([[100.0], [105.0], [95.0]]), median_col0
    )
    assert 1.8 <= lo <= 2.0 <= hi <= 2.25


def test_goodput_and_token_throughputs():
    recs = [record("sweep/spec/c=1", e2e, i=i) for i, e2e in enumerate([100.0, 200.0, 400.0, 800.0])]
    recs[0]["ttft_ms"] = 500.0  # misses the TTFT objective
    g = goodput(recs, duration=2.0, ttft_ms=100.0, tpot_ms=10.0)  # TPOT 3.1, 6.25, 12.5, 25 ms
    assert g["good"] == 1 and g["share"] == 0.25 and g["rate"] == 0.5
    assert goodput(recs, 2.0, None, None) is None
    s = summarize(recs, slo={"ttft_ms": None, "tpot_ms": 10.0})
    assert s["goodput"]["good"] == 2
    assert s["input_tokens"] == 400 and s["total_throughput"] == pytest.approx(
        s["input_throughput"] + s["output_throughput"]
    )


def test_report_shows_sample_sizes_and_intervals(tmp_path):
    records, phases = [], []
    for dep, e2e in (("plain", 400.0), ("spec", 200.0)):
        recs, t = [], 0.0
        for i in range(24):  # one user: each request is sent when the last one ended
            recs.append(record(f"sweep/{dep}/c=1", e2e * (1 + 0.1 * (i % 3)), i=i, sent_s=t))
            t = recs[-1]["end_s"]
        records += recs
        phases.append({"id": f"sweep/{dep}/c=1", "kind": "sweep", "label": None, "deployment": dep,
                       "scenario": "closed", "concurrency": 1, "rate": None, "arrival": None, "duration_s": None,
                       "n_requests": 24, "tau_metrics": None, "locust": [], "summary": summarize(recs)})  # fmt: skip
    report = build_report(LoadtestConfig().model_dump(mode="json"), {"plain": {}, "spec": {}}, phases, None, 1.05,
                          records)  # fmt: skip
    row = report["comparison"]["sweep"][0]
    assert row["n"] == {"plain": 24, "spec": 24}
    lo, hi = row["speedup_ci"]
    assert lo < row["speedup"] < hi and hi - lo < 0.4
    md = write_report(report, records, tmp_path).read_text()
    assert f"[{lo:.2f}, {hi:.2f}]" in md and "n = 24/24 plain/spec requests" in md
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["speedup_batch1_ci"] == [lo, hi]
    assert token_rate_rows(records).shape == (48, 2)
