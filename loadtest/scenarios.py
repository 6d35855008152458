"""Scenarios: open-loop fixed arrival rate and closed-loop concurrency levels, and running one phase.

A phase is one scenario against one deployment. It runs in child processes (`python -m loadtest.phase`)
so that Locust's gevent patching never touches the caller; fixed-rate phases can be spread over several
generator processes that deal the arrivals round-robin and share one start time.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from specstack.errors import SpecstackError
from specstack.io import read_jsonl

START_MARGIN_S = 0.5


def arrival_times(
    rate: float, duration_s: float, arrival: Literal["poisson", "constant"], seed: int
) -> list[float]:
    """Arrival offsets (seconds from start) inside [0, duration): Poisson (exponential gaps) or constant."""
    if arrival == "constant":
        n = max(1, math.floor(rate * duration_s + 1e-9))
        return [i / rate for i in range(n)]
    rng = random.Random(seed)
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration_s:
            break
        out.append(t)
    return out or [0.0]


@dataclass
class Phase:
    """One scenario against one deployment."""

    id: str
    kind: Literal["warmup", "sweep", "fixed_rate", "capacity"]
    deployment: str
    base_url: str
    model: str
    scenario: Literal["closed", "open"]
    concurrency: int | None = None
    n_requests: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    arrival: str | None = None
    schedule: list[float] = field(default_factory=list)
    max_inflight: int = 1024
    drain_timeout_s: float = 300.0
    label: str | None = None

    def tags(self) -> dict[str, Any]:
        return {
            "phase": self.id,
            "deployment": self.deployment,
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "rate": self.rate,
        }

    def total(self) -> int | None:
        """Requests the phase will send, when known up front."""
        return len(self.schedule) if self.scenario == "open" else self.n_requests


@dataclass
class PhaseResult:
    """Records of one phase and what the generator processes said about it."""

    phase: Phase
    records: list[dict]
    wall_s: float
    dropped: int
    locust: list[dict]


ProgressFn = Callable[[int, int | None], None]


def run_phase(
    phase: Phase,
    prompts: list[dict],
    order: list[int],
    gen: dict[str, Any],
    *,
    api_key: str | None = None,
    timeout_s: float = 600.0,
    processes: int = 1,
    progress: ProgressFn | None = None,
    work_dir: str | Path | None = None,
) -> PhaseResult:
    """Run `phase` in `processes` child processes (closed-loop phases use one) and collect its records."""
    processes = processes if phase.scenario == "open" else 1
    tmp = Path(work_dir or tempfile.mkdtemp(prefix="specstack-loadtest-")).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    base = {
        "base_url": phase.base_url,
        "api_key": api_key,
        "timeout_s": timeout_s,
        "model": phase.model,
        "prompts": prompts,
        "order": order,
        "gen": gen,
        "scenario": phase.scenario,
        "concurrency": phase.concurrency,
        "n_requests": phase.n_requests,
        "duration_s": phase.duration_s,
        "max_inflight": max(1, phase.max_inflight // processes),
        "drain_timeout_s": phase.drain_timeout_s,
        "tags": phase.tags(),
    }
    rec_paths = []
    safe_id = phase.id.replace("/", "_").replace("=", "")
    children = _generators(processes, tmp)
    try:
        for rank, child in enumerate(children):
            spec = dict(base)
            if phase.scenario == "open":
                spec["schedule"] = [(i, t) for i, t in enumerate(phase.schedule) if i % processes == rank]
            rec_path = tmp / f"{safe_id}.{rank}.jsonl"
            rec_path.unlink(missing_ok=True)
            spec["records_path"] = str(rec_path)
            spec_path = tmp / f"{safe_id}.{rank}.spec.json"
            spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
            rec_paths.append(rec_path)
            child.stdin.write(f"{spec_path}\n")
            child.stdin.flush()
        for child in children:
            _expect(child, "ready")
        start = time.time() + START_MARGIN_S
        for child in children:
            child.stdin.write(f"{start}\n")
            child.stdin.flush()
        done = _follow(children, phase.total(), progress)
        wall = time.time() - start
    except BaseException:
        close_generators()  # a child in an unknown state is not reused
        raise
    records: list[dict] = []
    for path in rec_paths:
        if path.is_file():
            records.extend(read_jsonl(path))
    records.sort(key=lambda r: r.get("sent_s") if r.get("sent_s") is not None else r.get("scheduled_s", 0.0))
    return PhaseResult(
        phase, records, wall, sum(d.get("dropped", 0) for d in done), [d["locust"] for d in done]
    )


# Generator processes are kept between phases (importing Locust costs a second or more per process).
_GENERATORS: list[subprocess.Popen] = []


def _generators(n: int, log_dir: Path) -> list[subprocess.Popen]:
    """`n` live generator processes, reusing the kept ones."""
    alive = [c for c in _GENERATORS if c.poll() is None]
    _GENERATORS[:] = alive
    while len(_GENERATORS) < n:
        _GENERATORS.append(_spawn(log_dir / f"generator.{len(_GENERATORS)}.{os.getpid()}.log"))
    return _GENERATORS[:n]


def close_generators() -> None:
    """Stop the kept generator processes (also done at interpreter exit)."""
    while _GENERATORS:
        child = _GENERATORS.pop()
        if child.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                child.stdin.write("exit\n")
                child.stdin.flush()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


atexit.register(close_generators)


def _spawn(log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(log_path, "w", encoding="utf-8") as log:  # stderr to a file: a full pipe would block the child
        child = subprocess.Popen(
            [sys.executable, "-m", "loadtest.phase"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    child.log_path = log_path  # type: ignore[attr-defined]
    return child


def _fail(child: subprocess.Popen, what: str) -> SpecstackError:
    if child.poll() is None:
        child.kill()
    code = child.wait()
    log = Path(child.log_path)  # type: ignore[attr-defined]
    err = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    tail = err[-1] if err else "no output"
    return SpecstackError(f"load generator {what} (exit {code}): {tail} (log: {log})")


def _expect(child: subprocess.Popen, kind: str) -> str:
    while True:
        line = child.stdout.readline()
        if not line:
            raise _fail(child, f"died before '{kind}'")
        if line.startswith(f"@@{kind}"):
            return line[len(kind) + 2 :].strip()


def _follow(children: list[subprocess.Popen], total: int | None, progress: ProgressFn | None) -> list[dict]:
    """Read progress until every child says done; the sum of `done` counts goes to `progress`."""
    counts = [0] * len(children)
    results: list[dict] = []
    # children print at most every 0.5 s; read them in turn (a blocking readline on each is fine: all tick)
    pending = list(range(len(children)))
    while pending:
        for k in list(pending):
            line = children[k].stdout.readline()
            if not line:
                raise _fail(children[k], "died")
            if line.startswith("@@progress"):
                counts[k] = json.loads(line[len("@@progress") :])["done"]
            elif line.startswith("@@done"):
                payload = json.loads(line[len("@@done") :])
                counts[k] = payload["completed"]
                results.append(payload)
                pending.remove(k)
            if progress:
                progress(sum(counts), total)
    return results
