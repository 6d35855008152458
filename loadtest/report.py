"""The load-test report: report.json (schema in docs/loadtest.md), requests.csv / requests.jsonl (one row per
request), report.md with PNG plots, ending with the summary the gateway's threshold is taken from."""

from __future__ import annotations

import csv
import io
import itertools
import math
import time
from pathlib import Path
from typing import Any

from loadtest.records import CSV_FIELDS
from loadtest.stats import bootstrap_ratio, e2e_rows, median_col0, sum_ratio, token_rate_rows
from specstack.io import atomic_write_json, atomic_write_text, read_jsonl, write_jsonl

SCHEMA_VERSION = 1


def _p(summary: dict | None, metric: str, key: str = "p50") -> float | None:
    d = (summary or {}).get(metric) or {}
    return d.get(key)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def _tau(summary: dict) -> float | None:
    return (summary.get("tau") or {}).get("tau")


def _by_phase(records: list[dict] | None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records or ():
        out.setdefault(r.get("phase", ""), []).append(r)
    return out


def compare_sweep(phases: list[dict], baseline: str = "plain", candidate: str = "spec",
                  records: list[dict] | None = None) -> list[dict]:  # fmt: skip
    """One row per concurrency level both deployments ran: speedups (with a 95% bootstrap interval over the
    requests when `records` are given) and τ."""
    recs = _by_phase(records)
    by = {(p["deployment"], p["concurrency"]): p for p in phases if p["kind"] == "sweep"}
    levels = sorted({c for d, c in by if d == baseline} & {c for d, c in by if d == candidate})
    rows = []
    for c in levels:
        b, s = by[(baseline, c)], by[(candidate, c)]
        bs, ss = b["summary"], s["summary"]
        per_req = (ss.get("tau") or {}).get("per_request") or {}
        row = {
            "concurrency": c,
            "phases": {baseline: b["id"], candidate: s["id"]},
            "speedup": _ratio(ss.get("output_throughput"), bs.get("output_throughput")),
            "speedup_ci": bootstrap_ratio(
                token_rate_rows(recs.get(s["id"], [])), token_rate_rows(recs.get(b["id"], [])), sum_ratio
            ),
            "n": {baseline: bs["ok"], candidate: ss["ok"]},
            "speedup_e2e_p50": _ratio(_p(bs, "e2e_ms"), _p(ss, "e2e_ms")),
            "speedup_tpot_p50": _ratio(_p(bs, "tpot_ms"), _p(ss, "tpot_ms")),
            "tau": _tau(ss),
            "tau_p10": per_req.get("p10"),
            "tau_p90": per_req.get("p90"),
            "tau_metrics": s.get("tau_metrics"),
        }
        gw = by.get(("gateway", c))
        if gw is not None:
            row["phases"]["gateway"] = gw["id"]
            row["speedup_gateway"] = _ratio(
                gw["summary"].get("output_throughput"), bs.get("output_throughput")
            )
        rows.append(row)
    return rows


def compare_fixed(phases: list[dict], baseline: str = "plain", candidate: str = "spec",
                  records: list[dict] | None = None, capacity_rate: float | None = None) -> list[dict]:  # fmt: skip
    """One row per fixed-rate label both deployments ran: response-time speedups at that rate (the median's
    with a 95% bootstrap interval when `records` are given)."""
    recs = _by_phase(records)
    by = {(p["label"], p["deployment"]): p for p in phases if p["kind"] == "fixed_rate"}
    rows = []
    for label in dict.fromkeys(lbl for lbl, _ in by):
        b, s = by.get((label, baseline)), by.get((label, candidate))
        if b is None or s is None:
            continue
        bs, ss = b["summary"], s["summary"]
        row = {
            "label": label,
            "rate": b["rate"],
            "capacity_fraction": b["rate"] / capacity_rate if capacity_rate and b["rate"] else None,
            "goodput_share": {
                d: (p["summary"].get("goodput") or {}).get("share")
                for d, p in ((baseline, b), (candidate, s))
            },
            "phases": {baseline: b["id"], candidate: s["id"]},
            "speedup_e2e_p50": _ratio(_p(bs, "e2e_ms"), _p(ss, "e2e_ms")),
            "speedup_e2e_p50_ci": bootstrap_ratio(
                e2e_rows(recs.get(b["id"], [])), e2e_rows(recs.get(s["id"], [])), median_col0
            ),
            "n": {baseline: bs["ok"], candidate: ss["ok"]},
            "speedup_e2e_mean": _ratio(_p(bs, "e2e_ms", "mean"), _p(ss, "e2e_ms", "mean")),
            "speedup_e2e_p90": _ratio(_p(bs, "e2e_ms", "p90"), _p(ss, "e2e_ms", "p90")),
            "speedup_ttft_p50": _ratio(_p(bs, "ttft_ms"), _p(ss, "ttft_ms")),
            "tau": _tau(ss),
        }
        gw = by.get((label, "gateway"))
        if gw is not None:
            row["phases"]["gateway"] = gw["id"]
            row["speedup_gateway_e2e_p50"] = _ratio(_p(bs, "e2e_ms"), _p(gw["summary"], "e2e_ms"))
        rows.append(row)
    return rows


def crossover(rows: list[dict], below: float) -> tuple[int | None, float | None]:
    """First level whose speedup < `below`, and where speedup crosses 1.0 (log2-interpolated), if it does."""
    stop = next((r["concurrency"] for r in rows if r["speedup"] is not None and r["speedup"] < below), None)
    cross = None
    for a, b in itertools.pairwise(rows):
        if a["speedup"] and b["speedup"] and a["speedup"] >= 1.0 > b["speedup"]:
            la, lb = math.log2(a["concurrency"]), math.log2(b["concurrency"])
            frac = (a["speedup"] - 1.0) / (a["speedup"] - b["speedup"])
            cross = 2 ** (la + frac * (lb - la))
            break
    if cross is None and rows and rows[0]["speedup"] is not None and rows[0]["speedup"] < 1.0:
        cross = float(rows[0]["concurrency"])
    return stop, cross


def build_report(
    config: dict[str, Any],
    deployments: dict[str, dict[str, Any]],
    phases: list[dict],
    capacity: dict[str, Any] | None,
    stops_paying_below: float,
    records: list[dict] | None = None,
) -> dict[str, Any]:
    """The report.json object (see docs/loadtest.md for the schema); `records` (the requests) give the
    speedups their confidence intervals."""
    sweep = compare_sweep(phases, records=records)
    fixed = compare_fixed(phases, records=records, capacity_rate=(capacity or {}).get("rate"))
    stop, cross = crossover(sweep, stops_paying_below)
    first = sweep[0] if sweep else None
    configured = next((r for r in fixed if r["label"] == "configured"), None)
    at_cap = next((r for r in fixed if r["label"] == "capacity"), None)
    ks = [(p["summary"].get("tau") or {}).get("num_spec_tokens") for p in phases]
    ks = [k for k in ks if k]
    summary = {
        "batch1_concurrency": first["concurrency"] if first else None,
        "speedup_batch1": first["speedup"] if first else None,
        "speedup_batch1_ci": first.get("speedup_ci") if first else None,
        "n_batch1": first.get("n") if first else None,
        "speedup_batch1_e2e_p50": first["speedup_e2e_p50"] if first else None,
        "tau_batch1": first["tau"] if first else None,
        "fixed_rate": configured["rate"] if configured else None,
        "speedup_fixed_rate": configured["speedup_e2e_p50"] if configured else None,
        "capacity_rate": (capacity or {}).get("rate"),
        "speedup_capacity_rate": at_cap["speedup_e2e_p50"] if at_cap else None,
        "stops_paying_at": stop,
        "stops_paying_below": stops_paying_below,
        "crossover_concurrency": cross,
        "max_concurrency_tested": sweep[-1]["concurrency"] if sweep else None,
        "gateway_threshold": stop if stop is not None and first and stop != first["concurrency"] else None,
        "num_spec_tokens": max(ks) if ks else None,
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "created_unix": time.time(),
        "config": config,
        "deployments": deployments,
        "phases": phases,
        "capacity": capacity,
        "comparison": {"sweep": sweep, "fixed_rate": fixed},
        "summary": summary,
    }


def write_requests(records: list[dict], out_dir: Path) -> None:
    """requests.jsonl (every field, ITL lists included) and requests.csv (flat columns)."""
    write_jsonl(out_dir / "requests.jsonl", records)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow({k: r.get(k) for k in CSV_FIELDS})
    atomic_write_text(out_dir / "requests.csv", buf.getvalue())


def write_report(report: dict[str, Any], records: list[dict], out_dir: str | Path) -> Path:
    """Write report.json, requests.csv/.jsonl, the PNGs and report.md; returns report.md's path."""
    from loadtest.plots import write_plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_requests(records, out)
    by_phase: dict[str, list[dict]] = {}
    for r in records:
        by_phase.setdefault(r.get("phase", ""), []).append(r)
    report["plots"] = write_plots({**report, "_records": by_phase}, out)
    atomic_write_json(out / "report.json", report)
    md = out / "report.md"
    atomic_write_text(md, render_markdown(report))
    return md


def rerender(out_dir: str | Path) -> Path:
    """Recompute comparisons and summary, redraw plots and report.md from report.json + requests.jsonl."""
    import json

    out = Path(out_dir)
    old = json.loads((out / "report.json").read_text(encoding="utf-8"))
    records = list(read_jsonl(out / "requests.jsonl"))
    report = build_report(old["config"], old["deployments"], old["phases"], old.get("capacity"),
                          old["config"].get("stops_paying_below", 1.05), records)  # fmt: skip
    report["created_unix"] = old.get("created_unix", report["created_unix"])
    return write_report(report, records, out)


# ---- Markdown -------------------------------------------------------------------------------------------


def _f(v: float | None, digits: int = 1, suffix: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}{suffix}"


def _x(v: float | None) -> str:
    return _f(v, 2, "x")


def _rate_label(phase: dict) -> str:
    if phase["rate"] is None:
        return f"{phase['label']} (all at once)"
    return f"{phase['label']} {phase['rate']:.3g}/s ({phase.get('arrival')})"


def _pct(share: float | None) -> str:
    return f"{share:.0%}" if share is not None else "–"


def _ci(ci: list[float] | None) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "–"


def _n(n: dict | None) -> str:
    return f"{n.get('plain', '–')}/{n.get('spec', '–')} plain/spec requests" if n else "–"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _engine(info: dict | None) -> str:
    if not info:
        return "–"
    parts = [
        f"{info.get('engine')} ({info.get('device')}, {info.get('dtype')})",
        f"target `{info.get('model_dir')}`",
    ]
    if info.get("draft_dir"):
        parts.append(f"draft `{info['draft_dir']}`, k={info.get('num_draft_tokens')}")
    return "; ".join(parts)


def _phase(report: dict, phase_id: str) -> dict:
    return next(p for p in report["phases"] if p["id"] == phase_id)


def render_markdown(report: dict[str, Any]) -> str:
    cfg, s = report["config"], report["summary"]
    out = ["# Load test: speculative vs plain", ""]
    deps = report["deployments"]
    out.append(_table(
        ["deployment", "URL", "model", "speculative", "engine"],
        [[name, f"`{d.get('url')}`", f"`{d.get('model')}`", str(d.get("speculative", "–")), _engine(d.get("engine"))]
         for name, d in deps.items()],
    ))  # fmt: skip
    out += [
        "",
        f"Prompts: `{cfg.get('dataset')}` (seed {cfg.get('seed')}; spec and plain get the same requests in the same "
        f"order), max_tokens {cfg.get('max_tokens')}, temperature {cfg.get('temperature')}"
        f"{', ignore_eos' if cfg.get('ignore_eos') else ''}. Times in ms. TTFT: send to first content chunk; "
        "ITL: gap between content chunks (per chunk; with speculation one chunk may carry several tokens); "
        "TPOT: (E2E - TTFT) / (output tokens - 1), per token; E2E: send to last byte. τ: tokens per verify step "
        "(bonus token included), token-weighted over the phase, from the engine's per-request statistics.",
        "",
    ]
    plots = set(report.get("plots", []))

    sweep = report["comparison"]["sweep"]
    if sweep:
        out += [
            "## Batch-size sweep (closed loop: N users, each sends its next request when the last one ends)",
            "",
        ]
        rows = []
        for r in sweep:
            b = _phase(report, r["phases"]["plain"])["summary"]
            sp = _phase(report, r["phases"]["spec"])["summary"]
            rows.append([
                str(r["concurrency"]), f"{b['ok']}/{sp['ok']}", _f(b.get("output_throughput")),
                _f(sp.get("output_throughput")), _x(r["speedup"]), _ci(r.get("speedup_ci")), _x(r["speedup_e2e_p50"]),
                f"{_f(_p(b, 'e2e_ms'), 0)} / {_f(_p(sp, 'e2e_ms'), 0)}",
                f"{_f(_p(b, 'e2e_ms', 'p99'), 0)} / {_f(_p(sp, 'e2e_ms', 'p99'), 0)}",
                f"{_f(_p(b, 'ttft_ms'), 0)} / {_f(_p(sp, 'ttft_ms'), 0)}",
                f"{_f(_p(b, 'tpot_ms'))} / {_f(_p(sp, 'tpot_ms'))}",
                f"{_f(_p(b, 'itl_ms'))} / {_f(_p(sp, 'itl_ms'))}", _f(r["tau"], 2),
            ])  # fmt: skip
        out.append(_table(
            ["batch", "n plain/spec", "plain tok/s", "spec tok/s", "speedup (tok/s)", "95% CI", "speedup (E2E p50)",
             "E2E p50 plain/spec", "E2E p99 plain/spec", "TTFT p50", "TPOT p50", "ITL p50", "τ"], rows))  # fmt: skip
        out.append("")
        if any(r.get("speedup_gateway") is not None for r in sweep):
            out += [
                "Gateway pool (load-aware routing between the spec and plain pools), output throughput vs plain: "
                + ", ".join(f"batch {r['concurrency']}: {_x(r.get('speedup_gateway'))}" for r in sweep)
                + ".",
                "",
            ]
        for name, caption in (
            ("latency_vs_batch.png", "Latency percentiles vs batch size"),
            ("speedup_vs_batch.png", "Speedup (plain / spec) vs batch size"),
            ("tau_vs_batch.png", "Acceptance length vs batch size"),
        ):
            if name in plots:
                out += [f"![{caption}]({name})", ""]

    fixed_phases = [p for p in report["phases"] if p["kind"] == "fixed_rate"]
    if fixed_phases:
        out += [
            "## Fixed arrival rate (open loop: arrivals on a precomputed schedule, independent of responses)",
            "",
        ]
        rows = []
        for p in fixed_phases:
            sm, rate = p["summary"], p["summary"].get("rate") or {}
            goodput = sm.get("goodput") or {}
            rows.append([
                _rate_label(p), p["deployment"], f"{sm['ok']}/{sm['sent']}",
                _f(rate.get("sent"), 2), _f(rate.get("achieved"), 2), _f(_p(sm, "ttft_ms"), 0),
                _f(_p(sm, "ttft_ms", "p99"), 0), _f(_p(sm, "itl_ms")), _f(_p(sm, "tpot_ms")),
                _f(_p(sm, "e2e_ms"), 0), _f(_p(sm, "e2e_ms", "p90"), 0), _f(_p(sm, "e2e_ms", "p99"), 0),
                _f(sm.get("latency_growth"), 2), _f(_tau(sm), 2), _pct(goodput.get("share")), str(sm["errors"]),
            ])  # fmt: skip
        out.append(_table(
            ["rate", "deployment", "ok/sent", "sent/s", "achieved/s", "TTFT p50", "TTFT p99", "ITL p50",
             "TPOT p50", "E2E p50", "E2E p90", "E2E p99", "E2E growth", "τ", "goodput", "errors"], rows))  # fmt: skip
        slo = cfg.get("slo") or {}
        if slo.get("ttft_ms") or slo.get("tpot_ms"):
            out += ["", f"Goodput: share of requests sent that met the SLO (TTFT <= {slo.get('ttft_ms') or '–'} ms, "
                    f"TPOT <= {slo.get('tpot_ms') or '–'} ms)."]  # fmt: skip
        out.append("")
        for r in report["comparison"]["fixed_rate"]:
            share = f" ({r['capacity_fraction']:.0%} of plain capacity)" if r.get("capacity_fraction") else ""
            rate = "all at once" if r["rate"] is None else f"{r['rate']:.3g} req/s{share}"
            out.append(
                f"- {r['label']}, {rate}: speedup (plain / spec median response time) "
                f"**{_x(r['speedup_e2e_p50'])}** (95% CI {_ci(r.get('speedup_e2e_p50_ci'))}, n = "
                f"{(r.get('n') or {}).get('plain', '–')}/{(r.get('n') or {}).get('spec', '–')} plain/spec; mean "
                f"{_x(r['speedup_e2e_mean'])}, p90 {_x(r['speedup_e2e_p90'])}, TTFT p50 {_x(r['speedup_ttft_p50'])})."
            )
        out.append("")
        for name, caption in (
            ("fixed_rate_latency.png", "Latency distribution at the fixed rates"),
            ("offered_vs_achieved.png", "Offered vs achieved rate"),
        ):
            if name in plots:
                out += [f"![{caption}]({name})", ""]

    cap = report.get("capacity")
    if cap:
        out += ["## Capacity probe (plain deployment)", ""]
        out.append(_table(
            ["offered/s", "sent/s", "achieved/s", "E2E p50", "E2E growth", "holds", "why"],
            [[_f(st["rate"], 2), _f(st["sent_rate"], 2), _f(st["achieved_rate"], 2), _f(st["e2e_p50_ms"], 0),
              _f(st["latency_growth"], 2), "yes" if st["holds"] else "no", st["reason"]] for st in cap["steps"]],
        ))  # fmt: skip
        bound = " (a lower bound: the probe's max_rate held)" if cap.get("lower_bound_only") else ""
        out += ["", f"Capacity: **{_f(cap.get('rate'), 2)} req/s**{bound}.", ""]

    out += ["## Summary", ""]
    c1 = s.get("batch1_concurrency")
    stop = s.get("stops_paying_at")
    lines = [
        f"- Speedup at batch {c1 if c1 is not None else 1}: **{_x(s.get('speedup_batch1'))}** output throughput "
        f"(95% CI {_ci(s.get('speedup_batch1_ci'))}, n = {_n(s.get('n_batch1'))}; median E2E "
        f"{_x(s.get('speedup_batch1_e2e_p50'))}), τ = {_f(s.get('tau_batch1'), 2)}.",
    ]
    if s.get("fixed_rate") is not None:
        lines.append(
            f"- Speedup at the fixed rate {s['fixed_rate']:.3g} req/s: **{_x(s.get('speedup_fixed_rate'))}** "
            "(plain / spec median response time)."
        )
    if s.get("capacity_rate") is not None:
        lines.append(
            f"- Capacity of the plain deployment: {s['capacity_rate']:.3g} req/s; speedup there: "
            f"**{_x(s.get('speedup_capacity_rate'))}**."
        )
    if stop is not None and stop == c1:
        lines.append(
            f"- Speculation does not pay at any batch size tested (speedup < {s['stops_paying_below']:.2f} already "
            "at the smallest): keep the speculative pool off (gateway threshold: none)."
        )
    elif stop is not None:
        cross = s.get("crossover_concurrency")
        lines.append(
            f"- Speculation stops paying (speedup < {s['stops_paying_below']:.2f}) at batch **{stop}**"
            + (f" (speedup crosses 1.0 near {cross:.1f})" if cross else "")
            + f": set the gateway's `spec_inflight_threshold` to {stop}."
        )
    elif s.get("max_concurrency_tested") is not None:
        lines.append(
            f"- Speculation still pays at the largest batch tested ({s['max_concurrency_tested']}): "
            "no threshold found; extend the sweep."
        )
    out += lines
    out.append("")
    return "\n".join(out)


def consistency_problems(out_dir: str | Path) -> list[str]:
    """What is inconsistent in a written report (empty when all is well): files present, request counts of
    report.json equal to the rows of requests.csv/.jsonl per phase, τ within [1, k+1], speedups recomputable."""
    import json

    out = Path(out_dir)
    problems: list[str] = []
    for name in ("report.json", "report.md", "requests.csv", "requests.jsonl"):
        if not (out / name).is_file():
            problems.append(f"missing {name}")
    if problems:
        return problems
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    records = list(read_jsonl(out / "requests.jsonl"))
    with open(out / "requests.csv", encoding="utf-8", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    if len(csv_rows) != len(records):
        problems.append(f"requests.csv has {len(csv_rows)} rows, requests.jsonl {len(records)}")
    per_phase: dict[str, int] = {}
    for r in records:
        per_phase[r.get("phase", "")] = per_phase.get(r.get("phase", ""), 0) + 1
    if sum(p["summary"]["requests"] for p in report["phases"]) != len(records):
        problems.append("phase request counts do not add up to the records")
    k = report["summary"].get("num_spec_tokens")
    for p in report["phases"]:
        s = p["summary"]
        if per_phase.get(p["id"], 0) != s["requests"]:
            problems.append(
                f"{p['id']}: {s['requests']} requests in report.json, {per_phase.get(p['id'], 0)} records"
            )
        if s["ok"] + s["errors"] != s["requests"]:
            problems.append(f"{p['id']}: ok + errors != requests")
        if p["n_requests"] is not None and p["scenario"] == "closed" and s["requests"] != p["n_requests"]:
            problems.append(f"{p['id']}: {s['requests']} requests, budget {p['n_requests']}")
        tau = (s.get("tau") or {}).get("tau")
        if tau is not None and not (1.0 <= tau <= (k + 1 if k else float("inf")) + 1e-9):
            problems.append(f"{p['id']}: τ {tau} outside [1, k+1]")
        for dist in ("ttft_ms", "e2e_ms", "tpot_ms"):
            d = s.get(dist)
            if d and not (d["min"] <= d["p50"] <= d["p90"] <= d["p99"] <= d["max"] + 1e-9):
                problems.append(f"{p['id']}: {dist} percentiles out of order")
    for r in records:
        if (
            r.get("ok")
            and r.get("tau") is not None
            and not (1.0 <= r["tau"] <= (k + 1 if k else float("inf")) + 1e-9)
        ):
            problems.append(f"record {r.get('phase')}#{r.get('index')}: τ {r['tau']} outside [1, k+1]")
            break
    by_id = {p["id"]: p for p in report["phases"]}
    for row in report["comparison"]["sweep"]:
        b, s = (by_id[row["phases"][d]]["summary"] for d in ("plain", "spec"))
        if row["speedup"] is not None and b.get("output_throughput"):
            expect = s["output_throughput"] / b["output_throughput"]
            if abs(expect - row["speedup"]) > 1e-9 * max(1.0, expect):
                problems.append(f"sweep c={row['concurrency']}: speedup does not match the throughputs")
    for name in report.get("plots", []):
        if not (out / name).is_file() or (out / name).stat().st_size == 0:
            problems.append(f"plot {name} missing or empty")
    return problems
