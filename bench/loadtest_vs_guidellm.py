"""Peer check of the load-test harness: guidellm (vLLM's load generator) and ours, same fixed rate, same server.

Claim: at the same open-loop rate against the same server, our TTFT and ITL medians agree with guidellm's
within 10%. Two servers are measured, each by both tools in turn (never at once):
  - guidellm's own mock server (`guidellm mock-server`, its scripted TTFT/ITL), and
  - our scripted test server (tests/fakes/timed_openai_server.py).
Both stream one token per chunk, so ITL per chunk (ours) and guidellm's ITL (per token, after the first)
measure the same gaps.

guidellm pins click<8.5, which conflicts with this project, so it lives in its own virtualenv:
    python -m venv .venv-guidellm && .venv-guidellm/bin/pip install guidellm==0.8.1
The script looks for `.venv-guidellm/bin/guidellm`, then `guidellm` on PATH (or --guidellm PATH). Without
it, it says so and exits 0 without writing results (so `make bench` is not blocked on an optional tool).

Usage: python bench/loadtest_vs_guidellm.py [--rate 8] [--duration 15] [--guidellm PATH]
Writes bench/results/loadtest_vs_guidellm.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from loadtest.scenarios import Phase, arrival_times, run_phase  # noqa: E402
from loadtest.stats import summarize  # noqa: E402
from specstack.io import atomic_write_json  # noqa: E402
from specstack.net import free_port  # noqa: E402
from tests.fakes.timed_openai_server import timed_server  # noqa: E402

TTFT_MS, ITL_MS, TOKENS = 80.0, 20.0, 16
PROMPTS = [f"Вопрос номер {i}: сколько стоит доставка дивана в Казань?" for i in range(400)]
TOLERANCE = 0.10


def find_guidellm(given: str | None) -> str | None:
    for cand in (given, str(ROOT / ".venv-guidellm" / "bin" / "guidellm"), shutil.which("guidellm")):
        if cand and Path(cand).is_file():
            return cand
    return None


@contextlib.contextmanager
def guidellm_mock(guidellm: str) -> Iterator[str]:
    port = free_port()
    argv = [guidellm, "mock-server", "--host", "127.0.0.1", "--port", str(port), "--model", "mock",
            "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--output-tokens", str(TOKENS)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("guidellm mock-server did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def model_of(url: str) -> str:
    return httpx.get(url + "/v1/models", timeout=5).json()["data"][0]["id"]


def ours(url: str, rate: float, duration: float) -> dict:
    phase = Phase(id="peer/ours", kind="fixed_rate", deployment="peer", base_url=url, model=model_of(url),
                  scenario="open", rate=rate, arrival="constant",
                  schedule=arrival_times(rate, duration, "constant", 0))  # fmt: skip
    prompts = [{"messages": [{"role": "user", "content": p}]} for p in PROMPTS]
    res = run_phase(phase, prompts, list(range(len(prompts))), {"max_tokens": TOKENS, "temperature": 0.0})
    s = summarize(res.records, res.wall_s, rate)
    return {
        "requests_ok": s["ok"],
        "achieved_rate": s["rate"]["achieved"],
        "ttft_ms_p50": s["ttft_ms"]["p50"],
        "itl_ms_p50": s["itl_ms"]["p50"],
        "tpot_ms_p50": s["tpot_ms"]["p50"],
        "e2e_ms_p50": s["e2e_ms"]["p50"],
    }


def theirs(guidellm: str, url: str, rate: float, duration: float, work: Path) -> dict:
    data = work / "prompts.json"
    data.write_text(json.dumps([{"prompt": p} for p in PROMPTS], ensure_ascii=False), encoding="utf-8")
    out = work / f"guidellm-{int(time.time() * 1000)}.json"
    argv = [guidellm, "run",
            "--backend", f"kind=openai_http,target={url},request_format=/v1/chat/completions",
            "--profile", f"kind=constant,rate={rate}",
            "--constraint", f"kind=max_duration,seconds={duration}",
            "--data", f"kind=json_file,path={data}",
            "--output", f"kind=json,path={out}", "--disable-console"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration * 10 + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"guidellm failed: {proc.stderr[-800:]}")
    m = json.loads(out.read_text())["benchmarks"][0]["metrics"]

    def med(name: str) -> float:
        return m[name]["successful"]["median"]

    return {
        "requests_ok": m["request_totals"]["successful"],
        "achieved_rate": m["requests_per_second"]["successful"]["mean"],
        "ttft_ms_p50": med("time_to_first_token_ms"),
        "itl_ms_p50": med("inter_token_latency_ms"),
        "tpot_ms_p50": med("time_per_output_token_ms"),
        "e2e_ms_p50": med("request_latency") * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=8.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--guidellm", default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "loadtest_vs_guidellm.json"))
    args = ap.parse_args()
    guidellm = find_guidellm(args.guidellm)
    if guidellm is None:
        print("SKIP loadtest_vs_guidellm: guidellm not found (python -m venv .venv-guidellm && "
              ".venv-guidellm/bin/pip install guidellm==0.8.1)")  # fmt: skip
        return 0
    version = subprocess.run([guidellm, "--version"], capture_output=True, text=True).stdout.strip()
    servers = {
        "guidellm mock-server": lambda: guidellm_mock(guidellm),
        "specstack timed test server": lambda: timed_server(ttft_ms=TTFT_MS, itl_ms=ITL_MS, tokens=TOKENS),
    }
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for name, start in servers.items():
            with start() as url:
                a = ours(url, args.rate, args.duration)
                b = theirs(guidellm, url, args.rate, args.duration, Path(tmp))
            agree = {k: abs(a[k] - b[k]) / b[k] <= TOLERANCE for k in ("ttft_ms_p50", "itl_ms_p50")}
            ok &= all(agree.values())
            rows.append({"server": name, "specstack": a, "guidellm": b, "within_10pct": agree})
    print(f"fixed rate {args.rate}/s (constant) for {args.duration:.0f} s; scripted TTFT {TTFT_MS:.0f} ms, "
          f"ITL {ITL_MS:.0f} ms, {TOKENS} tokens; guidellm {version}")  # fmt: skip
    head = f"{'server':30} {'metric':14} {'specstack':>10} {'guidellm':>10} {'diff':>7}"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        for k in ("ttft_ms_p50", "itl_ms_p50", "tpot_ms_p50", "e2e_ms_p50", "achieved_rate", "requests_ok"):
            a, b = r["specstack"][k], r["guidellm"][k]
            diff = f"{(a - b) / b * 100:+.1f}%" if b else "-"
            print(f"{r['server']:30} {k:14} {a:10.2f} {b:10.2f} {diff:>7}")
    print("agree within 10% (TTFT, ITL medians):", "yes" if ok else "NO")
    result = {
        "claim": "TTFT and ITL medians of specstack's load test agree with guidellm's within 10% at the same "
        "fixed rate against the same server",
        "rate": args.rate, "duration_s": args.duration, "guidellm_version": version,
        "scripted": {"ttft_ms": TTFT_MS, "itl_ms": ITL_MS, "tokens": TOKENS},
        "notes": "guidellm's TPOT is request latency / output tokens (TTFT included); ours is (E2E - TTFT) / "
        "(tokens - 1), which is guidellm's ITL. guidellm's achieved rate is its mean request rate; ours is "
        "completion spacing. guidellm stops at max_duration (in-flight requests are 'incomplete'); ours drains.",
        "rows": rows, "agree": ok,
    }  # fmt: skip
    atomic_write_json(args.out, result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
