"""The load test against real vLLM (CPU) serving the demo target with and without its EAGLE-3 draft: a tiny
sweep and a tiny fixed-rate run through `run_loadtest(start_servers=True)`, then the report's files and
numbers checked for consistency (request counts, τ within [1, k+1], speedups recomputable)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.config import LoadtestConfig
from loadtest.report import consistency_problems
from loadtest.runner import run_loadtest
from tests.engine_helpers import demo_models_missing

pytestmark = [pytest.mark.engine, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "artifacts" / "demo"
K = 3


@pytest.fixture(scope="module")
def demo_pair() -> tuple[Path, Path]:
    """The demo target and draft; skipped, loudly, until `make demo` (or its build stages) made them."""
    pytest.importorskip("vllm")
    target, draft = DEMO / "target", DEMO / "draft"
    missing = [str(p) for p in (target / "config.json", draft / "config.json") if not p.is_file()]
    if missing:
        demo_models_missing(", ".join(missing))
    return target, draft


def _dataset(tmp_path: Path) -> str:
    heldout = DEMO / "corpus" / "sft_heldout.jsonl"
    if heldout.is_file():
        return str(heldout)
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Здравствуйте! Диван ещё продаётся?"}]},
                               ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    return str(path)


def test_tiny_sweep_and_fixed_rate_against_vllm_spec_and_plain(demo_pair, tmp_path):
    from serving.engines import EngineConfig

    target, draft = demo_pair
    engine = EngineConfig(model=target, draft=draft, port=0, num_draft_tokens=K, startup_timeout_s=600)
    cfg = LoadtestConfig(
        start_servers=True, dataset=_dataset(tmp_path), max_prompts=16, max_tokens=24, warmup_requests=1,
        sweep={"concurrencies": [1, 2], "rounds": 2},
        fixed_rate={"rate": 1.0, "arrival": "constant", "duration_s": 4.0},
        capacity={"enabled": False}, out_dir=str(tmp_path / "report"),
    )  # fmt: skip
    md = run_loadtest(cfg, engine, show_progress=False)
    out = md.parent
    assert consistency_problems(out) == []
    report = json.loads((out / "report.json").read_text())
    assert report["deployments"]["plain"]["speculative"] is False
    assert report["deployments"]["spec"]["speculative"] is True
    s = report["summary"]
    assert s["num_spec_tokens"] == K
    assert 1.0 <= s["tau_batch1"] <= K + 1
    assert s["speedup_batch1"] is not None and s["speedup_fixed_rate"] is not None
    counts = {p["id"]: p["summary"]["requests"] for p in report["phases"]}
    assert counts["sweep/plain/c=1"] == counts["sweep/spec/c=1"] == 2
    assert counts["sweep/plain/c=2"] == counts["sweep/spec/c=2"] == 4
    for p in report["phases"]:
        assert p["summary"]["errors"] == 0, (p["id"], p["summary"]["error_examples"])
        tau = (p["summary"]["tau"] or {}).get("tau")
        if p["deployment"] == "plain":
            assert tau is None
        else:
            assert 1.0 <= tau <= K + 1
            assert p["tau_metrics"] is None or 1.0 <= p["tau_metrics"] <= K + 1
    assert (out / "engine-plain.log").is_file() and (out / "engine-spec.log").is_file()
    assert "## Summary" in md.read_text()
