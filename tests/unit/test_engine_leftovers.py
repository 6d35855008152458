"""The session's leftover-engine check on real processes: renamed like vLLM's workers (`exec -a`), as a child
and as an orphan, next to processes it must leave alone."""

from __future__ import annotations

import os
import subprocess
import time

import psutil
import pytest

from tests.engine_leftovers import SESSION_VAR, find_leftovers, is_engine, kill_leftovers


def wait_named(pid: int, marker: str) -> psutil.Process:
    """The process once `exec -a` has renamed it (bash execs right after fork)."""
    proc = psutil.Process(pid)
    deadline = time.monotonic() + 10
    while marker not in " ".join(proc.cmdline()):
        assert time.monotonic() < deadline, proc.cmdline()
        time.sleep(0.02)
    return proc


def orphan(name: str, session: str) -> psutil.Process:
    """`sleep 60` renamed `name`, started from a shell that exits at once (so it is re-parented)."""
    out = subprocess.run(
        ["bash", "-c", f"(exec -a '{name}' sleep 60) >/dev/null 2>&1 & echo $!"],
        env={**os.environ, SESSION_VAR: session}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return wait_named(int(out.stdout), name)


@pytest.fixture
def started() -> list[psutil.Process]:
    """Processes a test starts; any still alive are killed after it."""
    procs: list[psutil.Process] = []
    yield procs
    for p in procs:
        if p.is_running():
            p.kill()
    psutil.wait_procs(procs, timeout=5)


def test_renamed_child_and_tagged_orphan_are_found_and_killed(started: list[psutil.Process]):
    since = psutil.Process().create_time()
    child = subprocess.Popen(["bash", "-c", "exec -a 'VLLM::Worker' sleep 60"])
    started.append(wait_named(child.pid, "VLLM::Worker"))
    started.append(orphan("VLLM::EngineCore", "this-session"))
    started.append(orphan("VLLM::EngineCore", "another-session"))
    started.append(psutil.Process(subprocess.Popen(["sleep", "60"]).pid))  # a child, not an engine
    assert started[1].ppid() != os.getpid() and is_engine(started[1])

    found = find_leftovers(os.getpid(), since, "this-session")
    assert sorted(p.pid for p in found) == sorted([child.pid, started[1].pid])
    named = kill_leftovers(found, grace_s=0.2)
    assert sorted(named) == sorted(f"pid {p.pid}, name 'sleep', cmdline '{n} 60'"
                                   for p, n in [(started[0], "VLLM::Worker"), (started[1], "VLLM::EngineCore")])  # fmt: skip
    assert not started[0].is_running() and not started[1].is_running()
    assert started[2].is_running() and started[3].is_running()  # another session's engine, a plain child


def test_processes_older_than_the_session_are_left_alone(started: list[psutil.Process]):
    started.append(orphan("VLLM::Worker", "this-session"))
    assert find_leftovers(os.getpid(), time.time() + 60, "this-session") == []
    assert kill_leftovers([]) == [] and started[0].is_running()
