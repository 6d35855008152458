"""Engine processes a test session left running: found when the session ends, killed, and named.

An engine process is one whose name or command line holds a marker (vLLM renames its processes
`VLLM::EngineCore`, `VLLM::Worker`; its server is `vllm.entrypoints...`; SGLang's are `sglang...`). It is the
session's when it descends from the pytest process, or when it was orphaned (its parent died, so it hangs
from PID 1 or a subreaper) after the session began and carries the session's environment tag, which every
process the session starts inherits. Processes of other sessions and older ones are never touched.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import psutil

ENGINE_MARKERS = ("VLLM::", "vllm.entrypoints", "sglang")
SESSION_VAR = "SPECSTACK_TEST_SESSION"


def tag_session() -> str:
    """A fresh session tag in this process's environment, inherited by everything started from now on."""
    os.environ[SESSION_VAR] = uuid.uuid4().hex
    return os.environ[SESSION_VAR]


def is_engine(proc: psutil.Process) -> bool:
    """The process's name or command line holds an engine marker."""
    text = " ".join([proc.name(), *proc.cmdline()])
    return any(marker in text for marker in ENGINE_MARKERS)


def _orphan_of_session(proc: psutil.Process, since: float, session: str) -> bool:
    return proc.create_time() >= since and proc.environ().get(SESSION_VAR) == session


def find_leftovers(root_pid: int, since: float, session: str) -> list[psutil.Process]:
    """Live engine processes below `root_pid`, or orphaned ones tagged `session` that started at `since` or later."""
    root = psutil.Process(root_pid)
    descendants = {p.pid for p in root.children(recursive=True)}
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):  # gone, a zombie, or another user's
            if proc.pid == root_pid or not is_engine(proc):
                continue
            if proc.pid in descendants or _orphan_of_session(proc, since, session):
                found.append(proc)
    return found


def describe(proc: psutil.Process) -> str:
    """`pid N, name '...', cmdline '...'` (what is still readable)."""
    with contextlib.suppress(psutil.Error):
        return f"pid {proc.pid}, name {proc.name()!r}, cmdline {' '.join(proc.cmdline())!r}"
    return f"pid {proc.pid}"


def kill_leftovers(procs: list[psutil.Process], grace_s: float = 3.0) -> list[str]:
    """Descriptions of the processes still alive after `grace_s` (some may be exiting), which are then killed."""
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    named = [describe(p) for p in alive]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5.0)
    return named
