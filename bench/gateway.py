"""What the gateway costs: added latency (p50/p99) at a fixed rate, and the most requests/s it carries.

Every target fronts the same upstream, the scripted fake engine (tests/fakes/scripted_upstream.py, a test
double) answering at once, so the difference to "direct" is the proxy's own cost:

- direct:  client -> fake engine
- gateway: client -> `specstack serve gateway` (API key auth, metrics, access log, as deployed) -> fake engine
- litellm: client -> LiteLLM proxy (`litellm --config`, if installed: --litellm BIN or on PATH) -> fake engine
- gateway@REF (--baseline-ref REF): the gateway as it was at git commit REF (a worktree), for before/after
  comparisons on the same machine in the same run
- gateway+redis (--redis-server BIN, default $REDIS_SERVER): the gateway with the bench key rate-limited
  (limits far above the load) and its limits shared through a real redis-server: every request takes from
  Redis's buckets (admission, token reservation, settlement)

Each target runs in its own process on loopback. Fixed rate: open loop, constant arrivals (default 12 rps,
the reference deployment's rate), non-streaming chat and streaming chat. Max rate: closed loop at a fixed
concurrency for a few seconds. Prints a table, writes bench/results/gateway.json.

    python bench/gateway.py [--rate 12] [--duration 20] [--litellm /path/to/bin/litellm] [--baseline-ref REF]
                            [--redis-server /path/to/redis-server]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from specstack.net import free_port  # noqa: E402

KEY = "sk-bench-000000000001"
BODY = {
    "model": "demo",
    "messages": [{"role": "user", "content": "Привет! Товар ещё в продаже?"}],
    "max_tokens": 5,
}
GOAL_P99_ADDED_MS = 2.0


# ---------------------------------------------------------------------------------------------- processes
def _start(argv: list[str], env: dict[str, str] | None = None, log: Path | None = None,
           cwd: Path = ROOT) -> subprocess.Popen:  # fmt: skip
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _wait_ready(url: str, proc: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            r = httpx.post(url + "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {KEY}"},
                           timeout=5, trust_env=False)  # fmt: skip
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    try:
        kids = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [k for kid in kids for k in (kid, *_children(kid))]


def _start_gateway(stack: ExitStack, name: str, upstream: str, tmp: Path, targets: dict, pids: dict,
                   cwd: Path = ROOT, config: dict | None = None) -> None:  # fmt: skip
    """`specstack serve gateway` from the code in `cwd`, in front of `upstream`, as target `name`."""
    port = free_port()
    argv = [sys.executable, "-m", "specstack.cli", "serve", "gateway", "--upstream", upstream, "--model", "demo",
            "--port", str(port)]  # fmt: skip
    if config is not None:
        path = tmp / f"{name}.json"
        path.write_text(json.dumps({"gateway": config}))
        argv += ["--config", str(path)]
    env = {
        "SPECSTACK_GATEWAY_API_KEYS": f"bench={KEY}",
        "PYTHONPATH": str(cwd),
    }  # the code in cwd, not ROOT's
    proc = _start(argv, env, tmp / f"{name.replace('@', '-')}.log", cwd=cwd)
    stack.callback(_stop, proc)
    targets[name] = f"http://127.0.0.1:{port}"
    _wait_ready(targets[name], proc, name)
    pids[name] = proc.pid


def _worktree(stack: ExitStack, ref: str, tmp: Path) -> Path:
    """A checkout of `ref` (the gateway before a change), removed at the end."""
    path = tmp / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), ref], check=True,
                   capture_output=True)  # fmt: skip
    stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                   capture_output=True)  # fmt: skip
    return path


def _redis(stack: ExitStack, binary: str) -> str:
    """A throwaway redis-server on loopback: its URL."""
    import redis

    port = free_port()
    proc = _start([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    stack.callback(_stop, proc)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)


def start_targets(
    stack: ExitStack, litellm_bin: str | None, tmp: Path, baseline_ref: str | None = None,
    redis_server: str | None = None,
) -> tuple[dict[str, str], dict[str, int]]:  # fmt: skip
    """Start the fake engine, the gateway, and (maybe) the gateway at `baseline_ref`, the gateway with limits in
    Redis and LiteLLM: name -> base URL, and proxy name -> pid."""
    py = sys.executable
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    up = _start([py, "-m", "tests.fakes.scripted_upstream", "--port", str(up_port), "--no-record"])
    stack.callback(_stop, up)
    _wait_ready(upstream, up, "the fake engine")
    targets = {"direct": upstream}

    pids: dict[str, int] = {}
    _start_gateway(stack, "gateway", upstream, tmp, targets, pids)
    if baseline_ref:
        _start_gateway(
            stack,
            f"gateway@{baseline_ref}",
            upstream,
            tmp,
            targets,
            pids,
            cwd=_worktree(stack, baseline_ref, tmp),
        )
    if redis_server:
        limits = {"requests_per_second": 100_000, "tokens_per_minute": 1_000_000_000}
        _start_gateway(stack, "gateway+redis", upstream, tmp, targets, pids,
                       config={"default_limits": limits, "shared_limits": {"redis_url": _redis(stack, redis_server)}})  # fmt: skip

    if litellm_bin:
        lt_port = free_port()
        cfg = tmp / "litellm.yaml"
        cfg.write_text(
            "model_list:\n  - model_name: demo\n    litellm_params:\n      model: openai/demo\n"
            f"      api_base: {upstream}/v1\n      api_key: none\n"
            f"general_settings:\n  master_key: {KEY}\n"
            "litellm_settings:\n  telemetry: false\n"
        )
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "DISABLE_SCHEMA_UPDATE": "true",
        }
        lt = _start([litellm_bin, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(lt_port),
                     "--num_workers", "1"], env, tmp / "litellm.log")  # fmt: skip
        stack.callback(_stop, lt)
        targets["litellm"] = f"http://127.0.0.1:{lt_port}"
        _wait_ready(targets["litellm"], lt, "LiteLLM", timeout_s=240)
        pids["litellm"] = lt.pid
    return targets, pids


# ---------------------------------------------------------------------------------------------- load
async def _one(client: httpx.AsyncClient, url: str, stream: bool) -> float:
    t = time.perf_counter()
    body = {**BODY, "stream": True} if stream else BODY
    if stream:
        async with client.stream("POST", url, json=body) as r:
            r.raise_for_status()
            async for _ in r.aiter_raw():
                pass
    else:
        r = await client.post(url, json=body)
        r.raise_for_status()
    return time.perf_counter() - t


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=30, trust_env=False,
                             limits=httpx.Limits(max_connections=256, max_keepalive_connections=256))  # fmt: skip


async def fixed_rate(
    targets: dict[str, str], rate: float, duration: float, stream: bool
) -> dict[str, list[float]]:
    """Open loop, interleaved: every 1/rate s one request goes to each target, spread evenly over the period,
    whatever the earlier ones do; so all targets see the same machine load (other processes share these
    cores). Returns each target's latencies (s)."""
    names = list(targets)
    urls = [targets[n] + "/v1/chat/completions" for n in names]
    n = int(rate * duration)
    out: dict[str, list] = {name: [] for name in names}
    async with _client() as client:
        for url in urls:
            for _ in range(5):  # warm connections
                await _one(client, url, stream)
        t0 = time.perf_counter() + 0.05
        for i in range(n):
            for j, (name, url) in enumerate(zip(names, urls, strict=True)):
                delay = t0 + (i + j / len(urls)) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                out[name].append(asyncio.create_task(_one(client, url, stream)))
        return {name: list(await asyncio.gather(*tasks)) for name, tasks in out.items()}


async def max_rate(base: str, concurrency: int, duration: float) -> float:
    """Closed loop: `concurrency` workers back to back for `duration` s. Returns completed requests/s."""
    url = base + "/v1/chat/completions"
    done = 0
    async with _client() as client:
        for _ in range(10):
            await _one(client, url, False)
        stop = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await _one(client, url, False)
                done += 1

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t)


def app_path_cpu_us(n: int = 3000) -> float:
    """CPU per request of the gateway's own Python path (envelope, auth, limits, validation, routing, metrics,
    response), driven in-process through ASGI with the engine call stubbed out: no sockets, no scheduler, so
    other processes on the machine hardly change it."""
    import uvloop

    from serving.gateway.app import create_app
    from serving.gateway.auth import KeyStore
    from serving.gateway.config import GatewayConfig
    from serving.gateway.proxy import Opened

    cfg = GatewayConfig(models={"demo": {"plain": ["http://127.0.0.1:9"]}}, access_log=False)
    app = create_app(cfg, KeyStore.from_entries([{"name": "bench", "key": KEY}], cfg.default_limits))
    gw = app.state.gateway
    answer = json.dumps({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "tok"}}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
                         "metrics": {"speculative_decoding": {"mean_acceptance_length": 2.5, "num_spec_steps": 2,
                                                              "num_draft_tokens": 6, "num_accepted_draft_tokens": 3}}}
                        ).encode()  # fmt: skip

    class Stub:
        async def send(self, router, path, body, headers, *, stream, start):  # the routing is the gateway's
            router.plan(start)
            replica = gw.replicas[0]
            replica.acquire()
            replica.release("ok")
            # the real Forwarder parses every answer (a 200 must be a JSON object): so does the stub
            return Opened(replica, 200, content=answer, answer=json.loads(answer), released=True)

    body = json.dumps(BODY).encode()
    headers = [(b"host", b"x"), (b"content-type", b"application/json"), (b"authorization", f"Bearer {KEY}".encode()),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 2)}  # fmt: skip

    async def one() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        never = asyncio.get_running_loop().create_future()
        sent = []

        async def receive() -> dict:
            return messages.pop() if messages else await never

        async def send(message: dict) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        assert sent[0]["status"] == 200, sent

    async def run() -> float:
        async with app.router.lifespan_context(app):
            gw.forwarder = Stub()
            for _ in range(300):
                await one()
            t = time.process_time()
            for _ in range(n):
                await one()
            return (time.process_time() - t) / n * 1e6

    logging_level = logging.getLogger("specstack.gateway").level
    logging.getLogger("specstack.gateway").setLevel(
        logging.ERROR
    )  # the stub replica is "down" for health checks
    try:
        return uvloop.run(run())
    finally:
        logging.getLogger("specstack.gateway").setLevel(logging_level)


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=1000, method="inclusive")[int(q * 10) - 1] if len(xs) > 1 else xs[0]


def summarize(xs: list[float]) -> dict[str, float]:
    ms = [x * 1e3 for x in xs]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p90_ms": pct(ms, 90), "p99_ms": pct(ms, 99), "max_ms": max(ms),
            "mean_ms": statistics.fmean(ms)}  # fmt: skip


# ---------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=12.0, help="fixed arrival rate, requests/s")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per fixed-rate run")
    ap.add_argument("--max-duration", type=float, default=8.0, help="seconds per max-rate run")
    ap.add_argument("--concurrency", type=int, default=32, help="workers of the max-rate run")
    ap.add_argument("--litellm", default=shutil.which("litellm"), help="LiteLLM proxy executable (optional)")
    ap.add_argument("--baseline-ref", help="also measure the gateway as it was at this git commit")
    ap.add_argument("--redis-server", default=os.environ.get("REDIS_SERVER"),
                    help="redis-server binary: also measure the gateway with limits shared through Redis")  # fmt: skip
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    a = ap.parse_args()

    results: dict = {"targets": {}}
    results["app_path_cpu_us"] = app_path_cpu_us()
    print(f"[bench] the gateway's Python path, in-process, engine call stubbed: {results['app_path_cpu_us']:.0f} us "
          "CPU per request", flush=True)  # fmt: skip
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        targets, pids = start_targets(stack, a.litellm, Path(tmp), a.baseline_ref, a.redis_server)
        results["targets"] = {name: {} for name in targets}
        for mode, stream in (("chat", False), ("chat_stream", True)):
            print(f"[bench] {mode}: {a.rate:g} rps to each of {', '.join(targets)}, interleaved, {a.duration:g} s",
                  flush=True)  # fmt: skip
            cpu0 = {name: _cpu_s(pid) for name, pid in pids.items()}
            lat = asyncio.run(fixed_rate(targets, a.rate, a.duration, stream))
            for name, xs in lat.items():
                results["targets"][name][mode] = summarize(xs)
                if name in pids:
                    cpu = (_cpu_s(pids[name]) - cpu0[name]) / len(xs) * 1e3
                    results["targets"][name][mode]["cpu_ms_per_request"] = cpu
        for name, url in targets.items():
            print(f"[bench] {name}: max rate, {a.concurrency} concurrent, {a.max_duration:g} s", flush=True)
            results["targets"][name]["max_rps"] = asyncio.run(max_rate(url, a.concurrency, a.max_duration))
    direct = results["targets"]["direct"]
    for r in results["targets"].values():
        for mode in ("chat", "chat_stream"):
            r[mode]["added_p50_ms"] = r[mode]["p50_ms"] - direct[mode]["p50_ms"]
            r[mode]["added_p99_ms"] = r[mode]["p99_ms"] - direct[mode]["p99_ms"]
    gw = results["targets"]["gateway"]
    added = {mode: gw[mode]["added_p99_ms"] for mode in ("chat", "chat_stream")}
    results["goal"] = {"p99_added_ms_below": GOAL_P99_ADDED_MS, "added_p99_ms": added,
                       "met": all(v < GOAL_P99_ADDED_MS for v in added.values())}  # fmt: skip
    results["setup"] = {
        "rate_rps": a.rate, "duration_s": a.duration, "max_rate_concurrency": a.concurrency,
        "max_rate_duration_s": a.max_duration, "cpus": os.cpu_count(), "python": platform.python_version(),
        "machine": platform.machine(), "litellm": a.litellm and _version(a.litellm),
        "upstream": "tests/fakes/scripted_upstream.py, 5 tokens, no delay",
        "load_average_after": os.getloadavg(),
        "request": "chat, 5 completion tokens; streaming: 8 SSE events",
    }  # fmt: skip
    print_table(results)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"[bench] wrote {a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}")
    return 0


def _version(binary: str) -> str | None:
    py = Path(binary).with_name("python")
    try:
        out = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        return out.stdout.strip() or None
    except OSError:
        return None


def print_table(results: dict) -> None:
    setup = results["setup"]
    print(
        f"\nEach target at {setup['rate_rps']:g} rps (open loop, interleaved), {setup['cpus']} CPUs, loopback; ms:\n"
    )
    print("| target | chat p50 | chat p99 | added p50 | added p99 | stream p50 | stream p99 | added p50 | added p99 "
          "| proxy CPU/req | max req/s |")  # fmt: skip
    print("|" + "---|" * 11)
    for name, r in results["targets"].items():
        c, s = r["chat"], r["chat_stream"]
        cpu = f"{c['cpu_ms_per_request']:.2f}" if "cpu_ms_per_request" in c else "-"
        print(f"| {name} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {c['added_p50_ms']:+.2f} | {c['added_p99_ms']:+.2f} "
              f"| {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['added_p50_ms']:+.2f} | {s['added_p99_ms']:+.2f} "
              f"| {cpu} | {r['max_rps']:.0f} |")  # fmt: skip
    g = results["goal"]
    each = ", ".join(f"{mode} {v:+.2f} ms" for mode, v in g["added_p99_ms"].items())
    print(f"\nGoal: gateway p99 added latency < {g['p99_added_ms_below']:g} ms at {setup['rate_rps']:g} rps, chat and "
          f"stream ({each}): {'MET' if g['met'] else 'NOT MET'} (load average after the run: "
          f"{', '.join(f'{x:.1f}' for x in setup['load_average_after'])})")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
