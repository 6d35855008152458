"""Run the whole load test: capacity probe, batch-size sweep and fixed-rate runs against the plain and the
speculative deployment (optionally started and stopped here), then write the report.

Order: plain first (probe, sweep, fixed rate, fixed rate at capacity), then spec (sweep, fixed rates), then
the gateway pool if configured; one deployment at a time, so on a small machine the generator and one
engine share the cores, never two engines. Spec and plain get identical request sequences and arrival
schedules (same seeds).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadtest import prom
from loadtest.capacity import probe
from loadtest.config import LoadtestConfig
from loadtest.dataset import load_prompts, prompt_order
from loadtest.report import build_report, write_report
from loadtest.scenarios import Phase, PhaseResult, arrival_times, run_phase
from loadtest.stats import summarize
from specstack.errors import SpecstackError
from specstack.progress import progress_bar

ORDER_SEED_SPAN = 100_003  # distinct seeds per sweep level / fixed-rate label, same for every deployment


@dataclass
class Target:
    """A deployment under test."""

    name: str
    url: str
    model: str
    api_key: str | None
    speculative: bool | None
    engine: dict[str, Any] | None = None


def resolve_model(url: str, api_key: str | None, given: str | None) -> str:
    """The model name to send: the configured one, else the server's first /v1/models id."""
    if given:
        return given
    root = url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(root + "/v1/models", headers=headers, timeout=10, trust_env=False)
        r.raise_for_status()
        return r.json()["data"][0]["id"]
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
        raise SpecstackError(
            f"{root}/v1/models: cannot read the model name ({e}); set loadtest.model"
        ) from None


class LoadtestSession:
    """Runs phases against targets and keeps what the report needs."""

    def __init__(self, cfg: LoadtestConfig, out_dir: Path, progress: Any) -> None:
        self.cfg = cfg
        self.out_dir = out_dir
        self.progress = progress
        self.prompts = load_prompts(cfg.dataset, cfg.max_prompts, cfg.seed)
        self.gen = {
            "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature,
            "ignore_eos": cfg.ignore_eos,
            "extra_body": cfg.extra_body,
        }
        self.phases: list[dict] = []
        self.records: list[dict] = []
        self.deployments: dict[str, dict] = {}
        self.capacity: dict | None = None
        self.work_dir = Path(tempfile.mkdtemp(prefix="specstack-loadtest-"))

    # -- one phase
    def run(self, phase: Phase, target: Target, seed: int, keep: bool = True) -> dict:
        n = phase.total() or 20_000  # time-bound phases: the order cycles after this many requests
        order = prompt_order(len(self.prompts), n, seed)
        before = prom.scrape(target.url, target.api_key)
        task = self.progress.add_task(phase.id, total=phase.total(), status=target.url)

        def tick(done: int, total: int | None) -> None:
            self.progress.update(task, completed=done, total=total)

        try:
            result: PhaseResult = run_phase(
                phase, self.prompts, order, self.gen, api_key=target.api_key, timeout_s=self.cfg.request_timeout_s,
                processes=self.cfg.generator_processes if phase.scenario == "open" else 1, progress=tick,
                work_dir=self.work_dir,
            )  # fmt: skip
        finally:
            self.progress.remove_task(task)
        after = prom.scrape(target.url, target.api_key)
        summary = summarize(result.records, result.wall_s, phase.rate if phase.scenario == "open" else None,
                            slo=self.cfg.slo.model_dump())  # fmt: skip
        entry = {
            "id": phase.id,
            "kind": phase.kind,
            "label": phase.label,
            "deployment": target.name,
            "scenario": phase.scenario,
            "concurrency": phase.concurrency,
            "rate": phase.rate,
            "arrival": phase.arrival,
            "duration_s": phase.duration_s,
            "n_requests": phase.n_requests,
            "summary": summary,
            "tau_metrics": prom.tau_between(before, after),
            "locust": result.locust,
        }
        tau = (summary.get("tau") or {}).get("tau")
        self.progress.console.log(
            f"{phase.id}: {summary['ok']}/{summary['requests']} ok, E2E p50 "
            f"{(summary.get('e2e_ms') or {}).get('p50', float('nan')):.0f} ms, "
            f"{summary.get('output_throughput') or 0:.1f} tok/s" + (f", τ {tau:.2f}" if tau else "")
        )
        if keep:
            self.phases.append(entry)
            self.records.extend(result.records)
        return entry

    def _open_phase(
        self, kind: str, target: Target, rate: float, arrival: str, duration: float, label: str
    ) -> Phase:
        fr = self.cfg.fixed_rate
        return Phase(
            id=f"{kind}/{label}/{target.name}/r={rate:.4g}" if kind == "fixed_rate" else f"capacity/{target.name}/r={rate:.4g}",
            kind=kind, deployment=target.name, base_url=target.url, model=target.model, scenario="open",
            rate=rate, arrival=arrival, duration_s=duration,
            schedule=arrival_times(rate, duration, arrival, self.cfg.seed),
            max_inflight=fr.max_inflight if fr else 1024, drain_timeout_s=fr.drain_timeout_s if fr else 300.0,
            label=label,
        )  # fmt: skip

    # -- scenarios for one target
    def measure(self, target: Target) -> None:
        cfg = self.cfg
        self.deployments[target.name] = {
            "url": target.url,
            "model": target.model,
            "speculative": target.speculative,
            "engine": target.engine,
        }
        if cfg.warmup_requests:
            warm = Phase(id=f"warmup/{target.name}", kind="warmup", deployment=target.name, base_url=target.url,
                         model=target.model, scenario="closed", concurrency=1, n_requests=cfg.warmup_requests)  # fmt: skip
            self.run(warm, target, cfg.seed + 7, keep=False)
        if target.name == "plain" and cfg.capacity.enabled and cfg.fixed_rate is not None:
            self.capacity = probe(lambda r: self._capacity_step(target, r), cfg.capacity)
        if cfg.sweep.enabled:
            for c in cfg.sweep.concurrencies:
                phase = Phase(id=f"sweep/{target.name}/c={c}", kind="sweep", deployment=target.name,
                              base_url=target.url, model=target.model, scenario="closed", concurrency=c,
                              n_requests=cfg.sweep.requests_at(c), duration_s=cfg.sweep.duration_s)  # fmt: skip
                self.run(phase, target, cfg.seed + c * ORDER_SEED_SPAN)
        for i, (label, rate) in enumerate(self.fixed_rates()):
            if rate == "inf":
                phase = self._burst_phase(target, cfg.fixed_rate.inf_requests)
            else:
                phase = self._open_phase("fixed_rate", target, rate, cfg.fixed_rate.arrival, cfg.fixed_rate.duration_s,
                                         label)  # fmt: skip
            self.run(phase, target, cfg.seed + 1 + i)

    def fixed_rates(self) -> list[tuple[str, float | str]]:
        """(label, rate) of every fixed-rate run: the configured rate, the capacity and its fractions (once the
        probe has run), and the sweep's rates ('inf' last)."""
        fr = self.cfg.fixed_rate
        if fr is None:
            return []
        out: list[tuple[str, float | str]] = [("configured", fr.rate)]
        cap = (self.capacity or {}).get("rate")
        if cap:
            if fr.at_capacity:
                out.append(("capacity", cap))
            out += [(f"{f:g}x capacity", f * cap) for f in fr.capacity_fractions]
        out += [(f"sweep {r:g}/s", r) for r in fr.rates if r != "inf"]
        if "inf" in fr.rates:
            out.append(("inf", "inf"))
        return out

    def _burst_phase(self, target: Target, n: int) -> Phase:
        """Request rate 'inf': `n` requests sent at once (every arrival at t = 0)."""
        fr = self.cfg.fixed_rate
        assert fr is not None
        return Phase(id=f"fixed_rate/inf/{target.name}/r=inf", kind="fixed_rate", deployment=target.name,
                     base_url=target.url, model=target.model, scenario="open", rate=None, arrival="burst",
                     duration_s=0.0, schedule=[0.0] * n, max_inflight=max(n, fr.max_inflight),
                     drain_timeout_s=fr.drain_timeout_s, label="inf")  # fmt: skip

    def _capacity_step(self, target: Target, rate: float) -> dict:
        c = self.cfg.capacity
        entry = self.run(self._open_phase("capacity", target, rate, c.arrival, c.step_duration_s, "probe"),
                         target, self.cfg.seed + 3)  # fmt: skip
        return entry["summary"]

    def finish(self) -> Path:
        report = build_report(
            self.cfg.model_dump(mode="json"),
            self.deployments,
            self.phases,
            self.capacity,
            self.cfg.stops_paying_below,
            self.records,
        )
        return write_report(report, self.records, self.out_dir)


@contextlib.contextmanager
def _targets_from_urls(cfg: LoadtestConfig) -> Iterator[list[tuple[str, Any]]]:
    if not cfg.plain_url or not cfg.spec_url:
        raise SpecstackError(
            "loadtest: set both plain_url and spec_url, or start_servers: true with a serve: section"
        )
    yield [("plain", (cfg.plain_url, False)), ("spec", (cfg.spec_url, True))]


@contextlib.contextmanager
def _engine(engine_cfg: Any, speculative: bool, log_path: Path) -> Iterator[tuple[str, str, dict]]:
    """Start the engine from `engine_cfg` with speculation on or off on a free port; yields (url, model, info)."""
    from serving.engines import start_engine

    if speculative and engine_cfg.draft is None:
        raise SpecstackError("loadtest.start_servers: the serve section has no draft to speculate with")
    cfg = engine_cfg.model_copy(update={"speculative": speculative, "port": 0})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = start_engine(cfg, log=log, prefix="")
        try:
            yield proc.base_url, cfg.model_name(), {
                "engine": proc.command.engine, "device": proc.command.device, "model_dir": str(cfg.model),
                "draft_dir": str(cfg.draft) if speculative else None,
                "num_draft_tokens": cfg.num_draft_tokens if speculative else None, "dtype": cfg.dtype,
            }  # fmt: skip
        finally:
            proc.stop()


def run_loadtest(
    cfg: LoadtestConfig,
    engine_cfg: Any = None,
    *,
    out_dir: str | Path | None = None,
    show_progress: bool | None = None,
) -> Path:
    """Run everything `cfg` asks for and write the report; returns report.md's path.

    With `cfg.start_servers`, `engine_cfg` (a serving.engines EngineConfig, the run config's `serve:`
    section) is launched twice: speculation off, then on; engine logs go to the output directory.
    """
    out = Path(out_dir or cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress_bar(None if show_progress is None else not show_progress)
    with progress:
        session = LoadtestSession(cfg, out, progress)
        if cfg.start_servers:
            if engine_cfg is None:
                raise SpecstackError("loadtest.start_servers needs a serve: section in the run config")
            for name, spec in (("plain", False), ("spec", True)):
                progress.console.log(f"starting the {name} engine (log: {out / f'engine-{name}.log'})")
                with _engine(engine_cfg, spec, out / f"engine-{name}.log") as (url, model, info):
                    session.measure(Target(name, url, cfg.model or model, cfg.api_key, spec, info))
        else:
            with _targets_from_urls(cfg) as targets:
                for name, (url, spec) in targets:
                    model = resolve_model(url, cfg.api_key, cfg.model)
                    session.measure(Target(name, url, model, cfg.api_key, spec))
        if cfg.gateway is not None:
            gw = cfg.gateway
            session.measure(
                Target("gateway", gw.url, resolve_model(gw.url, gw.api_key, cfg.model), gw.api_key, None)
            )
        path = session.finish()
    print(f"report: {path}", file=sys.stderr)
    return path


DEMO_DEFAULTS: dict[str, Any] = {
    "start_servers": True,
    "max_tokens": 64,
    "sweep": {"concurrencies": [1, 2, 4, 8, 16], "rounds": 2},
    "fixed_rate": {"rate": 12.0, "duration_s": 20.0},
    "capacity": {"enabled": False},
    "out_dir": "artifacts/demo/loadtest",
}


def run_demo_loadtest(run_cfg: Any) -> Path:
    """`make demo`'s load-test stage; returns report.md's path.

    Uses the run config's `loadtest:` section (default: a short sweep 1..16 and a 20 s run at 12 req/s, no
    capacity probe) with the engines started here from its `serve:` section (default: vLLM on the demo
    target and draft under `demo.out_dir`).
    """
    cfg = getattr(run_cfg, "loadtest", None) or LoadtestConfig(**DEMO_DEFAULTS)
    if not cfg.start_servers and not (cfg.plain_url and cfg.spec_url):
        cfg = cfg.model_copy(update={"start_servers": True})
    engine = getattr(run_cfg, "serve", None)
    if engine is None and cfg.start_servers:
        from serving.engines import EngineConfig

        demo_dir = Path(getattr(getattr(run_cfg, "demo", None), "out_dir", "artifacts/demo"))
        engine = EngineConfig(model=demo_dir / "target", draft=demo_dir / "draft", port=0)
    return run_loadtest(cfg, engine)
