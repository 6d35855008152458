"""bench/engine.py's arithmetic: pooled summaries, τ from per-request statistics, the dynamic-k schedule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def req(
    ttft: float, e2e: float, tokens: int, steps: int | None = None, accepted: int = 0, k: int = 3
) -> dict:
    spec = None
    if steps is not None:
        spec = {"num_spec_steps": steps, "num_accepted_draft_tokens": accepted, "num_draft_tokens": k * steps}
    return {"ttft": ttft, "e2e": e2e, "tokens": tokens, "spec": spec}


def test_summary_of_plain_requests(bench) -> None:
    s = bench.summarize([req(0.1, 1.1, 101), req(0.1, 2.1, 201)], wall=3.0)
    assert s["tokens_per_s"] == pytest.approx(302 / 3.0, abs=0.01)
    assert s["tpot_ms"] == pytest.approx(1000 * 3.0 / 300)
    assert s["latency_mean_s"] == pytest.approx(1.6) and s["latency_p95_s"] == pytest.approx(2.1)
    assert "tau" not in s


def test_tau_is_tokens_per_verify_step_pooled_over_requests(bench) -> None:
    # 40 steps accepting 80 drafts -> 120 tokens; 10 steps accepting 0 -> 10 tokens: τ = 130 / 50
    s = bench.summarize([req(0.1, 0.5, 121, steps=40, accepted=80), req(0.1, 0.2, 11, steps=10)], wall=0.7)
    assert s["tau"] == pytest.approx(130 / 50, abs=1e-3)
    assert s["draft_acceptance_rate"] == pytest.approx(80 / 150, abs=1e-3)
    assert s["spec_step_ms"] == pytest.approx(1000 * (0.4 + 0.1) / 50)


def test_bound_is_tau_times_step_ratio(bench) -> None:
    plain = {"tpot_ms": 5.0, "tokens_per_s": 190.0}
    spec = {"spec_step_ms": 10.0, "tau": 4.0, "tokens_per_s": 361.0}
    b = bench.bound_analysis(plain, spec, k=4)
    assert b["bound_speedup_at_tau"] == pytest.approx(2.0)
    assert b["bound_speedup_all_accepted"] == pytest.approx(2.5)
    assert b["measured_over_bound"] == pytest.approx(0.95)


def test_dynamic_schedule_turns_the_draft_off_where_it_lost(bench) -> None:
    sched = bench.schedule_from_sweep({1: 2.4, 2: 2.0, 4: 1.5, 8: 1.1, 16: 0.97, 32: 0.9}, 4, 32)
    assert sched == [[1, 15, 4], [16, 32, 0]]
    assert bench.schedule_from_sweep({1: 2.0, 32: 1.2}, 3, 64) == [[1, 64, 3]]
