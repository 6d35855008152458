"""Code reward: run the candidate's ```python block and the task's tests in a sandboxed subprocess.

The reward is the share of the task's `assert` statements that pass, with penalties:
`NO_CODE` (no code block), `SYNTAX_ERROR` (the code does not compile), `VIOLATION` (the code tried
something the sandbox forbids), and `TIMEOUT_PENALTY` subtracted from the share when the run is killed
at the time limit (tests that passed before that still count).

What the sandbox enforces (Linux, no root needed):
- a fresh temporary directory as cwd, removed afterwards; `python -I -S` (no user site, no environment
  variables, no site-packages: the standard library only);
- resource limits (`setrlimit`, set by the child on itself before the candidate runs, hard = soft): address space (`memory_mb`), CPU seconds, size of any file written
  (`output_bytes`); stdout/stderr go to a file in the temp dir under that size limit; a wall-clock
  limit (`timeout_s`) kills the whole process group;
- no network: when unprivileged user namespaces are available (`unshare -rn`), the child runs in its own
  empty network namespace (no interface but a down loopback); in any case an audit hook
  (`sys.addaudithook`, which code cannot remove) refuses socket creation, subprocesses, exec, fork,
  ctypes, and opening or listing files outside the temp dir and the standard library (e.g. `/etc/passwd`),
  and writing anywhere but the temp dir. A refused operation raises PermissionError in the candidate
  and is reported as a violation.
What it does not enforce: audit hooks are a Python-level guard, not a kernel boundary (a C extension
could bypass them, though the standard library's ctypes is refused); file *reads* are not hidden by the
kernel. Untrusted code at scale belongs in a container/gVisor/nsjail on top of this.
Test results travel on a private pipe, tagged with a per-run random nonce that the candidate's code is
not given (code that digs through interpreter frames could find it: the reward is a training signal,
not a security boundary).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

from adaptation.rewards.fc import completion_text

NO_CODE = -1.0
SYNTAX_ERROR = -0.5
VIOLATION = -1.0
TIMEOUT_PENALTY = 0.5

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandboxed run."""

    timeout_s: float = 5.0
    memory_mb: int = 512
    output_bytes: int = 64 * 1024


@dataclass
class CodeRun:
    """What one run of a candidate against its tests did."""

    total: int
    passed: int = 0
    syntax_error: bool = False
    timed_out: bool = False
    violation: str | None = None
    error: str | None = None

    @property
    def reward(self) -> float:
        if self.syntax_error:
            return SYNTAX_ERROR
        if self.violation:
            return VIOLATION
        share = self.passed / self.total if self.total else 0.0
        return share - TIMEOUT_PENALTY if self.timed_out else share


def extract_code(completion: Any) -> str | None:
    """The last ```python (or bare ```) block of a completion, or None."""
    blocks = _FENCE.findall(_THINK.sub("", completion_text(completion)))
    return blocks[-1] if blocks else None


# The child: read the job from stdin, install the guard, run the code and each test, report on a pipe.
_HARNESS = r"""
import os, sys
def _main():
    import json, resource, signal
    job = json.loads(sys.stdin.read())
    nonce, out_fd, tmp = job["nonce"], job["out_fd"], os.path.realpath(job["tmp"])
    def report(*fields):
        os.write(out_fd, (" ".join([nonce, *map(str, fields)]) + "\n").encode())
    mem, cpu, fsize = job["limits"]
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, fsize),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sink = os.open(os.path.join(tmp, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(sink, 1); os.dup2(sink, 2); os.close(sink)
    devnull = os.open(os.devnull, os.O_RDONLY); os.dup2(devnull, 0); os.close(devnull)
    readable = tuple(os.path.realpath(p) + os.sep for p in job["readable"]) + (tmp + os.sep,)
    def inside(path, roots):
        if isinstance(path, int):
            return True
        p = os.path.realpath(os.fsdecode(path))
        return (p + os.sep).startswith(roots) or p == os.devnull
    deny = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
            "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
            "os.forkpty", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.kill",
            "os.killpg", "os.chdir", "os.chroot", "resource.setrlimit", "sys.addaudithook",
            "os.putenv", "os.unsetenv", "_posixsubprocess.fork_exec"}
    busy = []
    def guard(event, args):
        if busy:
            return
        busy.append(1)
        try:
            why = None
            if event in deny:
                why = event
            elif event == "import" and args[0].split(".")[0] in ("ctypes", "_ctypes", "socket", "_socket"):
                why = "import " + args[0]
            elif event == "open":
                path, mode = args[0], args[1] or "r"
                flags = args[2] or 0
                writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR)
                if not inside(path, (tmp + os.sep,) if writing else readable):
                    why = "open " + os.fsdecode(path) if not isinstance(path, int) else "open"
            elif event in ("os.listdir", "os.scandir", "os.remove", "os.rename", "os.rmdir", "os.mkdir",
                           "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate", "os.utime",
                           "shutil.rmtree", "shutil.copyfile", "shutil.move"):
                for path in args:
                    if isinstance(path, (str, bytes, os.PathLike)) and not inside(path, readable if event in ("os.listdir", "os.scandir") else (tmp + os.sep,)):
                        why = event + " " + os.fsdecode(path)
            if why:
                report("violation", json.dumps(why))
                raise PermissionError("sandbox: " + why)
        finally:
            busy.pop()
    code, tests = job["code"], job["tests"]
    try:
        solution = compile(code, "<solution>", "exec")
    except (SyntaxError, ValueError) as e:
        report("syntax", json.dumps(str(e)))
        return
    compiled = []
    for i, src in enumerate(tests):
        compiled.append(compile(src, f"<test {i}>", "exec"))
    del job
    sys.addaudithook(guard)
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(solution, ns)
    except BaseException as e:
        report("error", repr(type(e).__name__))
        return
    for i, test in enumerate(compiled):
        try:
            exec(test, ns)
        except BaseException:
            report("fail", i)
        else:
            report("pass", i)
_main()
os._exit(0)
"""


@cache
def _netns_prefix() -> tuple[str, ...]:
    """`unshare -rn` when unprivileged network namespaces work here, else nothing."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    try:
        ok = subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (exe, "-rn") if ok else ()


def _stdlib_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({paths["stdlib"], paths["platstdlib"], os.path.dirname(sys.executable)})


def split_tests(tests: str | list[str]) -> tuple[list[str], set[str]]:
    """Top-level statements of the test code, and the indices (as strings) of the `assert`s: the tests
    counted (other statements are setup)."""
    if isinstance(tests, list):
        tests = "\n".join(tests)
    tree = ast.parse(tests)
    statements = [ast.get_source_segment(tests, node) or "" for node in tree.body]
    return statements, {str(i) for i, node in enumerate(tree.body) if isinstance(node, ast.Assert)}


def run_candidate(code: str, tests: str | list[str], limits: SandboxLimits = SandboxLimits()) -> CodeRun:
    """Run `code` then each top-level statement of `tests` in one sandboxed interpreter."""
    statements, asserts = split_tests(tests)
    run = CodeRun(total=len(asserts))
    nonce = secrets.token_hex(16)
    tmp = tempfile.mkdtemp(prefix="specstack-code-")
    read_fd, write_fd = os.pipe()

    job = {"nonce": nonce, "out_fd": write_fd, "tmp": tmp, "readable": _stdlib_dirs(), "code": code,
           "tests": statements, "limits": [limits.memory_mb << 20, int(limits.timeout_s) + 1, limits.output_bytes]}  # fmt: skip
    argv = [*_netns_prefix(), sys.executable, "-I", "-S", "-c", _HARNESS]
    try:
        proc = subprocess.Popen(
            argv, cwd=tmp, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,), start_new_session=True, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        os.close(write_fd)
        write_fd = -1
        try:
            proc.communicate(json.dumps(job).encode(), timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            _kill_group(proc)
        with os.fdopen(read_fd, "rb") as results:
            read_fd = -1
            data = results.read(1024 * 1024)
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
    _apply_results(run, data.decode("utf-8", "replace"), nonce, asserts)
    if proc.returncode not in (0, None) and not run.timed_out and proc.returncode == -signal.SIGXCPU:
        run.timed_out = True
    return run


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _apply_results(run: CodeRun, data: str, nonce: str, asserts: set[str]) -> None:
    passed = set()
    for line in data.splitlines():
        tag, _, rest = line.partition(" ")
        if tag != nonce:
            continue
        kind, _, value = rest.partition(" ")
        if kind == "pass":
            passed.add(value)
        elif kind == "syntax":
            run.syntax_error = True
        elif kind == "violation" and run.violation is None:
            run.violation = json.loads(value)
        elif kind == "error":
            run.error = value
    run.passed = len(passed & asserts)


def _run_one(completion: Any, tests: str | list[str], limits: SandboxLimits) -> CodeRun | None:
    code = extract_code(completion)
    return None if code is None else run_candidate(code, tests, limits)


def code_score(completion: Any, tests: str | list[str], limits: SandboxLimits = SandboxLimits()) -> float:
    """The reward of one completion against one task's tests (see the module docstring)."""
    run = _run_one(completion, tests, limits)
    return NO_CODE if run is None else run.reward


def code_reward(
    completions: list, tests: list, workers: int = 2, log_metric: Any = None, **_: Any
) -> list[float]:
    """TRL reward function: the `tests` dataset column holds each row's assert lines; runs `workers` at once.

    With TRL's `log_metric`, logs the batch's shares of answers without code, with syntax errors, timeouts
    and sandbox violations (`code/no_code`, `code/syntax_error`, `code/timeout`, `code/violation`)."""
    limits = SandboxLimits()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        runs = list(pool.map(lambda c, t: _run_one(c, t, limits), completions, tests))
    if log_metric is not None and runs:
        n = len(runs)
        log_metric("code/no_code", sum(r is None for r in runs) / n)
        log_metric("code/syntax_error", sum(bool(r and r.syntax_error) for r in runs) / n)
        log_metric("code/timeout", sum(bool(r and r.timed_out) for r in runs) / n)
        log_metric("code/violation", sum(bool(r and r.violation) for r in runs) / n)
    return [NO_CODE if r is None else r.reward for r in runs]
