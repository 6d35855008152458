"""Engine benchmark: speculative (EAGLE-3) vs plain decoding on the real vLLM server, as clients see it.

    python bench/engine.py                 # demo target + draft (artifacts/demo), all sections (~30-40 min)
    python bench/engine.py --tiny          # a tiny random pair built in a temp dir: exercises the code only
    python bench/engine.py --sections k,batch --ks 2,3,4

Sections (each starts fresh engines through serving.engines, streams greedy chat completions over held-out
prompts with httpx, closed loop at a fixed concurrency, prefix caching off so every request pays its prefill):
  k          num_speculative_tokens 1..6 at concurrency 1 (picks the best k)
  batch      concurrency 1, 2, 4, 8, 16, 32, speculation on (best k) and off: output tokens/s, mean and p95
             request latency, τ from vLLM's per-request statistics, speedup
  variants   at concurrency 1, plain and speculative: bf16 vs fp32, eager vs compiled (torch.compile),
             with vs without LD_PRELOAD of tcmalloc + Intel OpenMP, OpenMP binding 'auto' vs all cores
  bandwidth  machine copy bandwidth (numpy, torch) vs achieved (model bytes x target forward passes/s)
Then the bound: from the measured plain step and speculative step costs and τ, the best speedup the step
costs allow (τ x t_plain / t_spec), and how close the measured end-to-end speedup comes.

Prints tables and writes bench/results/engine.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from serving.engines import EngineConfig, start_engine  # noqa: E402
from serving.engines.checks import read_safetensors_header  # noqa: E402

DEMO = REPO / "artifacts" / "demo"
RESULTS = REPO / "bench" / "results" / "engine.json"
CONCURRENCIES = (1, 2, 4, 8, 16, 32)
KS = (1, 2, 3, 4, 5, 6)
TINY_PROMPTS = [
    "Привет! Товар ещё в продаже?",
    "Сколько стоит доставка в Казань?",
    "Напишите функцию total_price.",
    "Когда отправят заказ?",
    "Какая скидка на диван?",
    "Можно посмотреть завтра после шести?",
]


# ---------------------------------------------------------------------------------------------- machine
def copy_bandwidth() -> dict[str, float]:
    """Memory copy bandwidth in GB/s counting read + write, best of 5 on 512 MiB (numpy 1 thread, torch all)."""
    import numpy as np
    import torch

    n = 512 * 2**20
    a = np.ones(n // 8, dtype=np.float64)
    b = np.empty_like(a)
    best_np = min(_timed(lambda: np.copyto(b, a)) for _ in range(5))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    best_t = min(_timed(lambda: tb.copy_(ta)) for _ in range(5))
    torch.set_num_threads(threads)
    return {
        "numpy_1thread_gbs": round(2 * n / best_np / 1e9, 1),
        "torch_all_threads_gbs": round(2 * n / best_t / 1e9, 1),
    }


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def model_params(model_dir: Path) -> int:
    total = 0
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        for name, shape in read_safetensors_header(f).items():
            if name in ("d2t", "t2d"):
                continue
            n = 1
            for d in shape:
                n *= d
            total += n
    return total


# ---------------------------------------------------------------------------------------------- client
async def one_request(http, url: str, body: dict) -> dict:
    """Stream one chat completion; times to first content and to the end, usage and spec statistics."""
    t0 = time.perf_counter()
    first = first_any = None
    usage: dict = {}
    spec: dict | None = None
    async with http.stream("POST", url, json=body) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {(await r.aread())[:300]!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk.get("choices"):
                first_any = first_any or time.perf_counter()
                delta = chunk["choices"][0].get("delta") or {}
                if delta.get("content") or delta.get("tool_calls"):
                    first = time.perf_counter()
            if chunk.get("usage"):
                usage = chunk["usage"]
                spec = (chunk.get("metrics") or {}).get("speculative_decoding")
    end = time.perf_counter()
    first = first or first_any or end  # a random model may emit only tokens that decode to nothing
    return {
        "ttft": first - t0,
        "e2e": end - t0,
        "tokens": int(usage.get("completion_tokens", 0)),
        "spec": spec,
    }


async def closed_loop(
    base_url: str, model: str, prompts: list[dict], concurrency: int, n: int, max_tokens: int
):
    import httpx

    url = base_url + "/v1/chat/completions"
    queue = [prompts[i % len(prompts)] for i in range(n)]
    results: list[dict] = []

    async def worker(http) -> None:
        while queue:
            p = queue.pop(0)
            body = {
                "model": model,
                "messages": p["messages"],
                "max_tokens": max_tokens,
                "temperature": 0.0,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            if p.get("tools"):
                body["tools"] = p["tools"]
            results.append(await one_request(http, url, body))

    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits, trust_env=False) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return results, wall


def summarize(results: list[dict], wall: float) -> dict[str, Any]:
    tokens = sum(r["tokens"] for r in results)
    e2e = sorted(r["e2e"] for r in results)
    decode = [(r["e2e"] - r["ttft"], r) for r in results if r["tokens"] > 1]
    out: dict[str, Any] = {
        "requests": len(results),
        "output_tokens": tokens,
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 2),
        "latency_mean_s": round(statistics.fmean(e2e), 4),
        "latency_p95_s": round(e2e[min(len(e2e) - 1, int(0.95 * len(e2e)))], 4),
        "ttft_mean_s": round(statistics.fmean(r["ttft"] for r in results), 4),
        # time per output token after the first (one plain step at concurrency 1)
        "tpot_ms": round(
            1000 * sum(d for d, _ in decode) / max(1, sum(r["tokens"] - 1 for _, r in decode)), 3
        ),
    }
    specs = [r["spec"] for r in results if r["spec"]]
    if specs:
        steps = sum(s["num_spec_steps"] for s in specs)
        accepted = sum(s["num_accepted_draft_tokens"] for s in specs)
        drafted = sum(s["num_draft_tokens"] for s in specs)
        out["tau"] = (
            round((steps + accepted) / steps, 3) if steps else None
        )  # tokens per verify step, bonus incl.
        out["draft_acceptance_rate"] = round(accepted / drafted, 3) if drafted else None
        out["spec_steps"] = steps
        # wall time of one speculative step (draft k tokens + verify k+1) at this concurrency
        step_s = sum(d for d, r in decode if r["spec"]) / max(
            1, sum(r["spec"]["num_spec_steps"] for _, r in decode if r["spec"])
        )
        out["spec_step_ms"] = round(1000 * step_s, 3)
    return out


# ---------------------------------------------------------------------------------------------- runs
class Bench:
    def __init__(self, args: argparse.Namespace, target: Path, draft: Path, prompts: list[dict]) -> None:
        self.args = args
        self.target, self.draft, self.prompts = target, draft, prompts
        self.log = open(args.engine_log, "a") if args.engine_log else None  # noqa: SIM115
        self.starts: list[dict] = []

    def config(self, **kw) -> EngineConfig:
        base = {
            "model": self.target,
            "draft": self.draft,
            "port": 0,
            "served_model_name": "bench",
            "max_num_seqs": max(CONCURRENCIES),
            "max_model_len": 2048,
            "startup_timeout_s": 1800,
            "extra_args": ["--no-enable-prefix-caching"],
        }
        base.update(kw)
        base["cpu"] = {"kvcache_gb": 1, **kw.get("cpu", {})}  # up to 4 engines run side by side
        return EngineConfig(**base)

    def run_group(
        self, servers: dict[str, EngineConfig], concurrencies: tuple[int, ...]
    ) -> dict[str, dict[int, dict]]:
        """Start all `servers` side by side, then measure them in alternating rounds, so that background load
        (other work on the machine) falls on every one of them alike; pooled summaries per server and point."""
        from contextlib import ExitStack

        rounds = self.args.rounds
        with ExitStack() as stack:
            engines = {}
            for label, cfg in servers.items():
                t = time.perf_counter()
                eng = start_engine(cfg, log=self.log, prefix=f"[{label}] ")
                stack.callback(eng.stop)
                self.starts.append({"label": label, "startup_s": round(time.perf_counter() - t, 1)})
                asyncio.run(closed_loop(eng.base_url, eng.model_name, self.prompts[-2:], 1, 2, 16))  # warm-up
                engines[label] = eng
            out: dict[str, dict[int, dict]] = {label: {} for label in servers}
            for c in concurrencies:
                n = max(-(-self.args.requests // rounds), 2 * c)
                pooled: dict[str, tuple[list, float]] = {label: ([], 0.0) for label in servers}
                order = list(servers)
                for r in range(rounds):
                    for label in order[r % len(order) :] + order[: r % len(order)]:
                        eng = engines[label]
                        res, wall = asyncio.run(
                            closed_loop(
                                eng.base_url, eng.model_name, self.prompts, c, n, self.args.max_tokens
                            )
                        )
                        acc, total = pooled[label]
                        pooled[label] = (acc + res, total + wall)
                for label in servers:
                    s = out[label][c] = summarize(*pooled[label])
                    tau = f" τ={s['tau']:.2f}" if s.get("tau") is not None else ""  # None: no drafting
                    print(
                        f"  {label:<30} c={c:<3} {s['tokens_per_s']:8.1f} tok/s  tpot {s['tpot_ms']:7.2f} ms{tau}",
                        flush=True,
                    )
        return out


def section_k(b: Bench, ks: tuple[int, ...]) -> dict:
    out: dict[str, Any] = {}
    for i in range(0, len(ks), 3):  # at most 4 engines side by side: plain + 3 values of k
        group = ks[i : i + 3]
        servers = {"plain": b.config(speculative=False)} | {
            f"k={k}": b.config(num_draft_tokens=k) for k in group
        }
        got = b.run_group(servers, (1,))
        out.setdefault("plain", got["plain"][1])
        for k in group:
            v = out[f"k={k}"] = got[f"k={k}"][1]
            v["speedup"] = round(v["tokens_per_s"] / got["plain"][1]["tokens_per_s"], 3)
            v["plain_tokens_per_s_same_group"] = got["plain"][1]["tokens_per_s"]
    out["best_k"] = max(ks, key=lambda k: out[f"k={k}"]["speedup"])
    if len(ks) >= 2:  # spec step cost ~ fixed + per_draft_token * k (least squares)
        xs, ys = list(ks), [out[f"k={k}"]["spec_step_ms"] for k in ks]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        plain = out["plain"]["tpot_ms"]
        out["step_cost_model"] = {
            "plain_step_ms": plain,
            "spec_step_ms_at_k0": round(my - slope * mx, 3),
            "spec_overhead_ms": round(my - slope * mx - plain, 3),
            "per_draft_token_ms": round(slope, 3),
            "draft_token_over_plain_step": round(slope / plain, 3),
            "speedup_limit_k_to_inf": round(plain / slope, 2) if slope > 0 else None,
        }
    return out


def schedule_from_sweep(speedups: dict[int, float], k: int, max_batch: int) -> list[list[int]]:
    """vLLM's num_speculative_tokens_per_batch_size from a sweep: k where speculation won, 0 where it lost.
    Batch sizes between two measured concurrencies take the lower one's choice."""
    cs = sorted(speedups)
    ranges: list[list[int]] = []
    for i, c in enumerate(cs):
        start = 1 if i == 0 else c
        end = (cs[i + 1] - 1) if i + 1 < len(cs) else max_batch
        choice = k if speedups[c] > 1.0 else 0
        if ranges and ranges[-1][2] == choice:
            ranges[-1][1] = end
        else:
            ranges.append([start, end, choice])
    return ranges


def section_batch(b: Bench, k: int, concurrencies: tuple[int, ...], dynamic: bool) -> dict:
    got = b.run_group(
        {"plain": b.config(speculative=False), f"spec k={k}": b.config(num_draft_tokens=k)}, concurrencies
    )
    plain, spec = got["plain"], got[f"spec k={k}"]
    rows: dict[int, dict] = {}
    for c in concurrencies:
        speedup = round(spec[c]["tokens_per_s"] / plain[c]["tokens_per_s"], 3)
        rows[c] = {"plain": plain[c], "spec": spec[c], "speedup": speedup}
    out: dict[str, Any] = {"k": k, "rows": rows}
    if dynamic:
        schedule = schedule_from_sweep({c: r["speedup"] for c, r in rows.items()}, k, max(CONCURRENCIES))
        out["dynamic_schedule"] = schedule
        if any(r[2] == 0 for r in schedule) and any(r[2] > 0 for r in schedule):
            servers = {
                "plain (again)": b.config(speculative=False),
                "spec dynamic": b.config(num_draft_tokens=k, draft_tokens_by_batch=schedule),
            }
            again = b.run_group(servers, concurrencies)
            for c in concurrencies:
                rows[c]["dynamic"] = again["spec dynamic"][c]
                rows[c]["plain_again"] = again["plain (again)"][c]
                rows[c]["dynamic_speedup"] = round(
                    again["spec dynamic"][c]["tokens_per_s"] / again["plain (again)"][c]["tokens_per_s"], 3
                )
    return out


VARIANTS = {
    "fp32": ("fp32", {"dtype": "float32"}),
    "compiled": ("compiled (torch.compile)", {"enforce_eager": False}),
    "nopreload": ("no preload (vLLM's libgomp)", {"cpu": {"preload_runtimes": False}}),
    "bindall": ("OpenMP on all cores", {"cpu": {"omp_threads_bind": f"0-{(os.cpu_count() or 1) - 1}"}}),
}


def section_variants(b: Bench, k: int, which: list[str]) -> dict:
    """Each variant side by side with the default (bf16, eager, preloaded, 'auto' binding), plain and spec."""
    out = {}
    for short in which:
        name, kw = VARIANTS[short]
        servers = {
            "default plain": b.config(speculative=False),
            "default spec": b.config(num_draft_tokens=k),
            f"{short} plain": b.config(speculative=False, **kw),
            f"{short} spec": b.config(num_draft_tokens=k, **kw),
        }
        got = {label: v[1] for label, v in b.run_group(servers, (1,)).items()}
        for label, plain, spec in (
            ("default (bf16, eager, preload, auto bind)", got["default plain"], got["default spec"]),
            (name, got[f"{short} plain"], got[f"{short} spec"]),
        ):
            out.setdefault(f"vs {short}", {})[label] = {
                "plain": plain,
                "spec": spec,
                "speedup": round(spec["tokens_per_s"] / plain["tokens_per_s"], 3),
            }
    return out


def bound_analysis(plain: dict, spec: dict, k: int) -> dict:
    """The best speedup the measured step costs allow, and how close the measured speedup is."""
    t_plain, t_spec, tau = plain["tpot_ms"], spec["spec_step_ms"], spec["tau"]
    bound = tau * t_plain / t_spec
    measured = spec["tokens_per_s"] / plain["tokens_per_s"]
    return {
        "k": k,
        "plain_step_ms": t_plain,
        "spec_step_ms": t_spec,
        "spec_step_over_plain_step": round(t_spec / t_plain, 3),
        "tau": tau,
        "bound_speedup_at_tau": round(bound, 3),
        "bound_speedup_all_accepted": round((k + 1) * t_plain / t_spec, 3),
        "measured_speedup": round(measured, 3),
        "measured_over_bound": round(measured / bound, 3),
    }


def bandwidth_analysis(b: Bench, plain: dict, spec: dict, bytes_per_param: int, copy: dict) -> dict:
    tp, dp = model_params(b.target), model_params(b.draft)
    tb = tp * bytes_per_param
    plain_passes = 1000 / plain["tpot_ms"]
    spec_passes = 1000 / spec["spec_step_ms"]
    peak = copy["numpy_1thread_gbs"] / 2  # read side of a copy: what one forward pass streams in
    return {
        "target_params": tp,
        "draft_params": dp,
        "target_bytes": tb,
        "plain_target_passes_per_s": round(plain_passes, 1),
        "plain_achieved_gbs": round(tb * plain_passes / 1e9, 2),
        "spec_target_passes_per_s": round(spec_passes, 1),
        "spec_achieved_gbs": round(tb * spec_passes / 1e9, 2),
        "copy_read_gbs_1thread": peak,
        "plain_share_of_read_bw": round(tb * plain_passes / 1e9 / peak, 3),
    }


# ---------------------------------------------------------------------------------------------- output
def print_tables(res: dict) -> None:
    if "k_sweep" in res:
        ks = res["k_sweep"]
        print("\nk sweep (concurrency 1)")
        print(f"{'':<8}{'tok/s':>9}{'tpot ms':>9}{'τ':>7}{'step ms':>9}{'speedup':>9}")
        print(f"{'plain':<8}{ks['plain']['tokens_per_s']:>9.1f}{ks['plain']['tpot_ms']:>9.2f}")
        for key, v in ks.items():
            if key.startswith("k="):
                print(
                    f"{key:<8}{v['tokens_per_s']:>9.1f}{v['tpot_ms']:>9.2f}{v['tau']:>7.2f}{v['spec_step_ms']:>9.2f}{v['speedup']:>8.2f}x"
                )
        print(f"best k = {ks['best_k']}")
        if "step_cost_model" in ks:
            m = ks["step_cost_model"]
            print(
                f"spec step ≈ {m['spec_step_ms_at_k0']} ms + {m['per_draft_token_ms']} ms x k (plain step "
                f"{m['plain_step_ms']} ms: fixed overhead {m['spec_overhead_ms']} ms, one draft token = "
                f"{m['draft_token_over_plain_step']} plain steps)"
            )
    if "batch" in res:
        bt = res["batch"]
        print(f"\nconcurrency sweep (k={bt['k']}): output tok/s, request latency mean / p95 (s), τ")
        dyn = any("dynamic" in r for r in bt["rows"].values())
        head = f"{'c':>3} {'plain tok/s':>11} {'spec tok/s':>10} {'speedup':>8} {'plain mean/p95':>15} {'spec mean/p95':>15} {'τ':>5}"
        print(head + (f" {'dynamic tok/s':>13} {'speedup':>8}" if dyn else ""))
        for c, r in bt["rows"].items():
            p, s = r["plain"], r["spec"]
            line = (
                f"{c:>3} {p['tokens_per_s']:>11.1f} {s['tokens_per_s']:>10.1f} {r['speedup']:>7.2f}x "
                f"{p['latency_mean_s']:>7.2f}/{p['latency_p95_s']:<7.2f} {s['latency_mean_s']:>7.2f}/{s['latency_p95_s']:<7.2f} {s['tau']:>5.2f}"
            )
            if "dynamic" in r:
                line += f" {r['dynamic']['tokens_per_s']:>13.1f} {r['dynamic_speedup']:>7.2f}x"
            print(line)
        if "dynamic_schedule" in bt:
            print(f"dynamic schedule (draft_tokens_by_batch): {bt['dynamic_schedule']}")
    if "variants" in res:
        print(
            "\nvariants at concurrency 1 (each group side by side): plain tok/s, spec tok/s, speedup, plain tpot, spec step"
        )
        for group, rows in res["variants"].items():
            print(f"  {group}")
            for name, v in rows.items():
                print(
                    f"    {name:<42} {v['plain']['tokens_per_s']:>8.1f} {v['spec']['tokens_per_s']:>8.1f} "
                    f"{v['speedup']:>6.2f}x {v['plain']['tpot_ms']:>7.2f} ms {v['spec']['spec_step_ms']:>7.2f} ms"
                )
    if "bound" in res:
        bd = res["bound"]
        print(
            f"\nbound (c=1, k={bd['k']}): plain step {bd['plain_step_ms']} ms, spec step {bd['spec_step_ms']} ms "
            f"({bd['spec_step_over_plain_step']}x), τ {bd['tau']} -> bound {bd['bound_speedup_at_tau']}x "
            f"(all accepted: {bd['bound_speedup_all_accepted']}x); measured {bd['measured_speedup']}x = "
            f"{100 * bd['measured_over_bound']:.0f}% of the bound"
        )
    if "bandwidth" in res:
        bw = res["bandwidth"]
        print(
            f"bandwidth: target {bw['target_params'] / 1e6:.1f}M params = {bw['target_bytes'] / 1e6:.0f} MB; plain "
            f"{bw['plain_target_passes_per_s']} passes/s = {bw['plain_achieved_gbs']} GB/s, spec "
            f"{bw['spec_target_passes_per_s']} verify passes/s = {bw['spec_achieved_gbs']} GB/s; machine copy "
            f"{res['machine']['copy_bandwidth']} (read side 1 thread {bw['copy_read_gbs_1thread']} GB/s)"
        )


# ---------------------------------------------------------------------------------------------- main
def load_prompts(path: Path, n: int) -> list[dict]:
    from specstack.io import read_jsonl

    out = []
    for row in read_jsonl(path):
        msgs = []
        for m in row["messages"]:
            if m["role"] == "assistant":
                break
            msgs.append(m)
        out.append({"messages": msgs, "tools": row.get("tools")})
        if len(out) >= n:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Speculative vs plain decoding on the real vLLM server.")
    ap.add_argument("--target", type=Path, default=DEMO / "target")
    ap.add_argument("--draft", type=Path, default=DEMO / "draft")
    ap.add_argument("--prompts", type=Path, default=DEMO / "corpus" / "sft_heldout.jsonl")
    ap.add_argument(
        "--tiny", action="store_true", help="build a tiny random pair (develops the bench, no claims)"
    )
    ap.add_argument("--sections", default="k,batch,variants,bandwidth")
    ap.add_argument("--variants", default="fp32,compiled,nopreload,bindall")
    ap.add_argument("--ks", default=",".join(map(str, KS)))
    ap.add_argument("--k", type=int, help="skip the k sweep's choice and use this k")
    ap.add_argument("--concurrencies", default=",".join(map(str, CONCURRENCIES)))
    ap.add_argument("--no-dynamic", action="store_true", help="skip the dynamic-k run of the batch sweep")
    ap.add_argument(
        "--requests", type=int, default=24, help="requests per point and server (>= 2 x concurrency)"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds per point (fairness under noise)"
    )
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--num-prompts", type=int, default=64)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--engine-log", default=None, help="file for the engines' output (default: discarded)")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))

    tmp = None
    if args.tiny:
        tmp = tempfile.TemporaryDirectory(prefix="bench-engine-")
        sys.path.insert(0, str(REPO))
        from tests.engine_helpers import build_engine_dirs

        target, draft = build_engine_dirs(Path(tmp.name))
        prompts = [{"messages": [{"role": "user", "content": p}], "tools": None} for p in TINY_PROMPTS]
    else:
        target, draft = args.target, args.draft
        missing = [
            str(p) for p in (target / "config.json", draft / "config.json", args.prompts) if not p.is_file()
        ]
        if missing:
            print(
                f"error: missing {', '.join(missing)}: build the demo first (make demo) or pass --tiny",
                file=sys.stderr,
            )
            return 1
        prompts = load_prompts(args.prompts, args.num_prompts)

    res: dict[str, Any] = {
        "models": {"target": str(target), "draft": str(draft), "tiny_random": bool(args.tiny)},
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
        },
        "settings": {
            "max_tokens": args.max_tokens,
            "requests_per_point": args.requests,
            "prompts": len(prompts),
            "prefix_caching": False,
            "client": "httpx streaming, closed loop",
        },
    }
    res["machine"]["copy_bandwidth"] = copy_bandwidth()
    bench = Bench(args, target, draft, prompts)
    k = args.k
    try:
        if "k" in sections:
            res["k_sweep"] = section_k(bench, tuple(int(x) for x in args.ks.split(",")))
            k = k or res["k_sweep"]["best_k"]
        k = k or 3
        if "batch" in sections:
            concs = tuple(int(x) for x in args.concurrencies.split(","))
            res["batch"] = section_batch(bench, k, concs, dynamic=not args.no_dynamic)
        if "variants" in sections:
            res["variants"] = section_variants(bench, k, [v for v in args.variants.split(",") if v])
        one = None
        if "batch" in res and 1 in res["batch"]["rows"]:
            one = res["batch"]["rows"][1]
        elif "k_sweep" in res:
            one = {"plain": res["k_sweep"]["plain"], "spec": res["k_sweep"][f"k={k}"]}
        elif "variants" in res:
            first = next(iter(res["variants"].values()))
            one = next(iter(first.values()))
        if one:
            res["bound"] = bound_analysis(one["plain"], one["spec"], k)
            if "bandwidth" in sections:
                res["bandwidth"] = bandwidth_analysis(
                    bench, one["plain"], one["spec"], 2, res["machine"]["copy_bandwidth"]
                )
    finally:
        res["engine_starts"] = bench.starts
        res["machine"]["loadavg_end"] = os.getloadavg()
        if tmp is not None:
            tmp.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    print_tables(res)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
