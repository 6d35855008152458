"""Load-test building blocks without a network: stream timing, τ parsing, prompts, schedules, stats,
capacity search, report consistency, config and CLI."""

from __future__ import annotations

import itertools
import json
import statistics

import pytest

from loadtest import prom
from loadtest.capacity import probe
from loadtest.config import CapacityConfig, LoadtestConfig
from loadtest.dataset import load_prompts, prompt_from_conversation, prompt_order
from loadtest.records import StreamTimer, spec_stats
from loadtest.report import build_report, consistency_problems, crossover, write_report
from loadtest.scenarios import arrival_times
from loadtest.stats import latency_growth, summarize
from specstack.configbase import validate
from specstack.errors import SpecstackError


def _chunk(content: str | None = None, **extra) -> str:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}}]
    return "data: " + json.dumps({"choices": choices, **extra})


VLLM_SPEC = {"speculative_decoding": {"mean_acceptance_length": 2.5, "draft_acceptance_rate": 0.5,
                                      "acceptance_histogram": [1, 0, 1, 0], "num_spec_steps": 6,
                                      "num_accepted_draft_tokens": 9, "num_draft_tokens": 18, "num_spec_tokens": 3}}  # fmt: skip


def test_stream_timer_measures_ttft_itl_tpot_e2e_and_vllm_tau():
    t = StreamTimer(t_send=10.0)
    t.feed_line(
        'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}', 10.05
    )  # no content
    t.feed_line(_chunk("a"), 10.100)
    t.feed_line("", 10.100)
    t.feed_line(_chunk("b c"), 10.130)
    t.feed_line(_chunk("d"), 10.150)
    t.feed_line(_chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 16}, metrics=VLLM_SPEC), 10.151)
    t.feed_line("data: [DONE]", 10.152)
    rec = t.record(10.152)
    assert rec["ok"] and rec["chunks"] == 3 and rec["output_tokens"] == 16
    assert rec["ttft_ms"] == pytest.approx(100.0)
    assert rec["itl_ms"] == pytest.approx([30.0, 20.0])
    assert rec["e2e_ms"] == pytest.approx(152.0)
    assert rec["tpot_ms"] == pytest.approx((152.0 - 100.0) / 15)
    assert rec["tau"] == 2.5 and rec["spec_steps"] == 6 and rec["spec_source"] == "vllm"


def test_sglang_meta_info_tau_is_tokens_per_verify_step():
    s = spec_stats(
        {"meta_info": {"completion_tokens": 30, "spec_verify_ct": 12, "spec_accept_token_num": 18}}
    )
    assert s["spec_source"] == "sglang" and s["tau"] == pytest.approx(2.5) and s["accepted_tokens"] == 18
    per_choice = {"choices": [{"delta": {}, "meta_info": {"completion_tokens": 10, "spec_verify_ct": 4}}]}
    assert spec_stats(per_choice)["tau"] == pytest.approx(2.5)
    details = {"spec_verify_ct": 4, "spec_num_correct_drafts": 6, "spec_accept_length": 2.5}
    assert spec_stats({"sglext": {"spec_tokens_details": details}})["accepted_tokens"] == 6
    assert spec_stats({"meta_info": {"completion_tokens": 3}}) is None
    assert spec_stats({"usage": {}}) is None


def test_stream_without_done_or_with_error_is_a_failure():
    t = StreamTimer(t_send=0.0)
    t.feed_line(_chunk("a"), 0.1)
    assert t.record(0.2)["error"] == "stream ended without [DONE]"
    t = StreamTimer(t_send=0.0)
    t.feed_line('data: {"error": {"message": "boom"}}', 0.1)
    t.feed_line("data: [DONE]", 0.1)
    rec = t.record(0.1)
    assert not rec["ok"] and rec["error"] == "boom"


VLLM_METRICS = """# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 4.0
vllm:spec_decode_num_drafts_total{engine="1",model_name="m"} 6.0
vllm:spec_decode_num_drafts_created{engine="0",model_name="m"} 1.7e+09
# TYPE vllm:spec_decode_num_accepted_tokens_total counter
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 15.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 3.0
"""


def test_prometheus_text_sums_wanted_samples_over_label_sets():
    assert prom.parse_metrics(VLLM_METRICS) == {
        "vllm:spec_decode_num_drafts_total": 10.0,
        "vllm:spec_decode_num_accepted_tokens_total": 15.0,
    }
    assert prom.parse_metrics('sglang:spec_accept_length{model_name="m"} 2.5\n') == {
        "sglang:spec_accept_length": 2.5
    }
    assert prom.parse_metrics("") == {}
    with pytest.raises(ValueError):
        prom.parse_metrics("<!doctype html>\n<p>not metrics</p>")


def test_tau_between_scrapes():
    before = {"vllm:spec_decode_num_drafts_total": 4.0, "vllm:spec_decode_num_accepted_tokens_total": 2.0}
    after = prom.parse_metrics(VLLM_METRICS)
    assert prom.tau_between(before, after) == pytest.approx(1 + 13 / 6)
    assert prom.tau_between(None, after) == pytest.approx(2.5)
    assert prom.tau_between(after, after) is None  # no drafts in between
    assert prom.tau_between(None, {"sglang:spec_accept_length": 2.5}) == 2.5
    assert prom.tau_between(before, None) is None and prom.tau_between(None, {}) is None


def test_scrape_reads_metrics_and_gives_none_for_anything_else():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from specstack.net import LoopbackServer

    bodies = {"/good/metrics": (VLLM_METRICS, 200), "/html/metrics": ("<html>no</html>", 200),
              "/gone/metrics": ("missing", 404)}  # fmt: skip

    async def metrics(request):
        text, status = bodies[request.url.path]
        return PlainTextResponse(text, status)

    app = Starlette(routes=[Route(path, metrics) for path in bodies])
    with LoopbackServer(app) as url:
        assert prom.scrape(url + "/good/v1")["vllm:spec_decode_num_drafts_total"] == 10.0
        assert prom.scrape(url + "/html") is None
        assert prom.scrape(url + "/gone/") is None
    assert prom.scrape(url, timeout_s=0.5) is None  # nothing listens any more


def test_prompts_cut_before_the_last_assistant_turn(tmp_path):
    row = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"},
                        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"},
                        {"role": "assistant", "content": "a2"}], "tools": [{"type": "function"}]}  # fmt: skip
    p = prompt_from_conversation(row)
    assert [m["content"] for m in p["messages"]] == ["s", "q1", "a1", "q2"] and p["tools"]
    share = {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}
    assert prompt_from_conversation(share)["messages"] == [{"role": "user", "content": "x"}]
    assert prompt_from_conversation({"messages": [{"role": "assistant", "content": "only"}]}) is None
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [row, share]) + "\n")
    assert len(load_prompts(path)) == 2
    path.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.raises(SpecstackError, match="no usable conversation"):
        load_prompts(path)


def test_tool_calls_become_valid_request_messages():
    row = {"messages": [
        {"role": "user", "content": "Статус заказа 662?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_order", "arguments": {"order_id": "662"}}},
            {"function": {"name": "get_user", "arguments": "{}"}}]},
        {"role": "tool", "name": "get_order", "content": "{}"},
        {"role": "tool", "name": "get_user", "content": "{}"},
        {"role": "assistant", "content": "Оплачен."}]}  # fmt: skip
    msgs = prompt_from_conversation(row)["messages"]
    calls = msgs[1]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_0", "call_1"] and all(c["type"] == "function" for c in calls)
    assert json.loads(calls[0]["function"]["arguments"]) == {"order_id": "662"}
    assert [m["tool_call_id"] for m in msgs[2:]] == ["call_0", "call_1"]
    assert "id" not in row["messages"][1]["tool_calls"][0]  # the dataset row is not modified


def test_prompt_order_is_seeded_and_covers_the_dataset():
    a, b = prompt_order(7, 20, seed=3), prompt_order(7, 20, seed=3)
    assert a == b and sorted(a[:7]) == list(range(7)) and a != prompt_order(7, 20, seed=4)


def test_arrival_schedules_have_the_offered_rate():
    const = arrival_times(12.0, 10.0, "constant", 0)
    assert len(const) == 120 and const[1] - const[0] == pytest.approx(1 / 12)
    poisson = arrival_times(12.0, 2000.0, "poisson", 0)
    assert len(poisson) / 2000.0 == pytest.approx(12.0, rel=0.03)
    gaps = [b - a for a, b in itertools.pairwise(poisson)]
    assert statistics.pstdev(gaps) / statistics.mean(gaps) == pytest.approx(
        1.0, rel=0.05
    )  # exponential: CV 1
    assert poisson == arrival_times(12.0, 2000.0, "poisson", 0)


def _rec(i: float, e2e: float, **kw) -> dict:
    return {"ok": True, "sent_s": i, "end_s": i + e2e / 1000, "e2e_ms": e2e, "ttft_ms": 10.0, "tpot_ms": 5.0,
            "itl_ms": [5.0, 5.0], "output_tokens": 3, **kw}  # fmt: skip


def test_summarize_rates_and_latency_growth():
    steady = [_rec(i * 0.1, 100.0, lag_ms=1.0) for i in range(30)]
    s = summarize(steady, offered_rate=10.0)
    assert (
        s["ok"] == 30
        and s["rate"]["sent"] == pytest.approx(10.0)
        and s["rate"]["achieved"] == pytest.approx(10.0)
    )
    assert s["latency_growth"] == pytest.approx(1.0) and s["itl_ms"]["count"] == 60
    queueing = [_rec(i * 0.1, 100.0 + 50 * i) for i in range(30)]
    assert latency_growth(queueing) > 3
    s = summarize(queueing, offered_rate=10.0)
    assert s["rate"]["achieved"] < s["rate"]["sent"]


def _fake_step(capacity: float):
    def run(rate: float) -> dict:
        achieved = min(rate, capacity)
        growth = 1.0 if rate <= capacity else 3.0
        return {"requests": 100, "sent": 100, "errors": 0, "dropped": 0, "latency_growth": growth,
                "rate": {"sent": rate, "achieved": achieved}, "e2e_ms": {"p50": 100.0}}  # fmt: skip

    return run


@pytest.mark.parametrize("capacity", [0.3, 5.0, 12.0, 40.0])
def test_capacity_probe_brackets_the_true_capacity(capacity):
    cfg = CapacityConfig(start_rate=1.0, factor=2.0, refine_steps=4, max_rate=100.0)
    result = probe(_fake_step(capacity), cfg)
    assert result["rate"] <= capacity * 1.0001
    assert result["rate"] >= capacity / 2 ** (1 / 2**4) * 0.999  # geometric bisection: within 2^(1/16)
    assert result["first_failed_rate"] > capacity


def test_capacity_probe_reports_a_lower_bound_when_nothing_fails():
    result = probe(_fake_step(1e9), CapacityConfig(start_rate=1.0, factor=2.0, max_rate=8.0))
    assert result["rate"] == 8.0 and result["lower_bound_only"]


def test_crossover_finds_where_speculation_stops_paying():
    rows = [{"concurrency": c, "speedup": s} for c, s in [(1, 2.5), (2, 2.0), (4, 1.5), (8, 1.1), (16, 0.9)]]
    stop, cross = crossover(rows, 1.05)
    assert stop == 16 and 8 < cross < 16
    assert crossover(rows[:3], 1.05) == (None, None)


def _phase(pid, kind, dep, scenario, records, **kw):
    base = {"id": pid, "kind": kind, "label": kw.pop("label", None), "deployment": dep, "scenario": scenario,
            "concurrency": None, "rate": None, "arrival": None, "duration_s": None, "n_requests": None,
            "tau_metrics": None, "locust": []}  # fmt: skip
    base.update(kw)
    base["summary"] = summarize(records, 1.0, base["rate"] if scenario == "open" else None)
    return base


def test_report_files_are_consistent(tmp_path):
    records, phases = [], []
    for dep, e2e, tau in (("plain", 200.0, None), ("spec", 100.0, 2.5), ("gateway", 125.0, 2.5)):
        for c in (1, 4):
            lat = e2e * (1 + c / 8)
            recs = [_rec(i * lat / 1000, lat, phase=f"sweep/{dep}/c={c}", deployment=dep, index=i,
                         **({"tau": tau, "spec_steps": 4, "accepted_tokens": 6, "num_spec_tokens": 3,
                             "spec_source": "vllm"} if tau else {})) for i in range(4)]  # fmt: skip
            records += recs
            phases.append(
                _phase(f"sweep/{dep}/c={c}", "sweep", dep, "closed", recs, concurrency=c, n_requests=4)
            )
        recs = [
            _rec(i * 0.1, e2e, phase=f"fixed/{dep}", deployment=dep, index=i, lag_ms=0.5) for i in range(20)
        ]
        records += recs
        phases.append(_phase(f"fixed/{dep}", "fixed_rate", dep, "open", recs, rate=10.0, label="configured"))
    deployments = {"plain": {"url": "u1", "model": "m"}, "spec": {"url": "u2", "model": "m"},
                   "gateway": {"url": "u3", "model": "m"}}  # fmt: skip
    report = build_report(LoadtestConfig().model_dump(mode="json"), deployments, phases, None, 1.05)
    md = write_report(report, records, tmp_path)
    assert consistency_problems(tmp_path) == []
    s = json.loads((tmp_path / "report.json").read_text())["summary"]
    assert s["speedup_batch1"] == pytest.approx(2.0) and s["speedup_fixed_rate"] == pytest.approx(2.0)
    assert s["num_spec_tokens"] == 3 and s["stops_paying_at"] is None
    text = md.read_text()
    assert text.rstrip().splitlines()[-1].startswith("- Speculation still pays")
    assert "## Summary" in text and "speedup_vs_batch.png" in text
    assert "Gateway pool" in text and report["comparison"]["sweep"][0]["speedup_gateway"] == pytest.approx(
        1.6
    )
    for name in ("latency_vs_batch.png", "speedup_vs_batch.png", "tau_vs_batch.png", "fixed_rate_latency.png",
                 "offered_vs_achieved.png"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 1000
    # a tampered CSV is caught
    (tmp_path / "requests.csv").write_text("phase\n")
    assert any("requests.csv" in p for p in consistency_problems(tmp_path))


def test_config_defaults_and_errors():
    cfg = LoadtestConfig()
    assert cfg.fixed_rate.rate == 12.0 and cfg.sweep.concurrencies == [1, 2, 4, 8, 16, 32, 64]
    assert cfg.sweep.requests_at(8) == 32
    with pytest.raises(SpecstackError, match="sweep: Value error, give requests_per_level or duration_s"):
        validate(LoadtestConfig, {"sweep": {"requests_per_level": 3, "duration_s": 2}}, "cfg.yaml")
    with pytest.raises(SpecstackError, match=r"fixed_rate\.rat: unknown key"):
        validate(LoadtestConfig, {"fixed_rate": {"rat": 3}}, "cfg.yaml")


def test_cli_help_everywhere():
    from specstack.cli import main

    for argv in (
        ["loadtest", "--help"],
        ["loadtest", "run", "--help"],
        ["loadtest", "report", "--help"],
        ["loadtest", "demo", "--help"],
    ):
        assert main(argv) == 0


def test_cli_run_needs_both_urls(capsys, tmp_path):
    from specstack.cli import main

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    assert main(["loadtest", "run", "--dataset", str(data), "--plain-url", "http://127.0.0.1:9", "--no-progress",
                 "--out-dir", str(tmp_path / "o")]) == 1  # fmt: skip
    assert "set both plain_url and spec_url" in capsys.readouterr().err
