"""Locust users for OpenAI-compatible streaming chat, and the workload they share.

- `ClosedLoopChatUser`: sends its next request when the previous one ends (the batch-size sweep:
  N users = concurrency N).
- `OpenLoopDispatcher`: one user that walks a precomputed arrival schedule and spawns a greenlet per
  arrival, so arrivals never wait for responses (Locust's users are closed loops by design; a slow server
  must not slow the offered load down).

Every finished request fires Locust request events ("chat" with the E2E time, "TTFT", "TPOT") and lands
as one record in the workload's sink.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.pool
from locust import User, constant, task
from locust.exception import StopUser

from loadtest.client import ChatStreamClient


class RecordSink:
    """Collects per-request records in memory and, when given a path, appends each to a JSONL file."""

    def __init__(self, path: str | None = None) -> None:
        self.records: list[dict] = []
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._lock = threading.Lock()

    def add(self, rec: dict) -> None:
        with self._lock:
            self.records.append(rec)
            if self._file:
                self._file.write(json.dumps(rec, ensure_ascii=False) + "\n")
                self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


class Workload:
    """What one run sends: request bodies by index, the budget or schedule, and where records go.

    Times in records are seconds since `t0` (set by `start`), on this process's perf_counter clock.
    """

    def __init__(
        self,
        client: ChatStreamClient,
        bodies: Callable[[int], dict[str, Any]],
        sink: RecordSink,
        *,
        n_requests: int | None = None,
        duration_s: float | None = None,
        schedule: list[tuple[int, float]] | None = None,
        max_inflight: int = 1024,
        drain_timeout_s: float = 300.0,
        tags: dict[str, Any] | None = None,
        fire: Callable[..., None] | None = None,
        prompt_index: Callable[[int], int] | None = None,
    ) -> None:
        self.client = client
        self.bodies = bodies
        self.sink = sink
        self.n_requests = n_requests
        self.duration_s = duration_s
        self.schedule = schedule or []
        self.max_inflight = max_inflight
        self.drain_timeout_s = drain_timeout_s
        self.tags = tags or {}
        self.fire = fire
        self.prompt_index = prompt_index
        self.t0: float | None = None
        self.issued = 0
        self.completed = 0
        self.dropped = 0
        self.inflight = 0
        self.finished = gevent.event.Event()

    def start(self, t0: float | None = None) -> None:
        """Fix time zero (perf_counter seconds); defaults to now."""
        self.t0 = time.perf_counter() if t0 is None else t0

    def now(self) -> float:
        return time.perf_counter() - (self.t0 or 0.0)

    # closed loop
    def take_ticket(self) -> int | None:
        """The index of the next request to send, or None when the budget or time is spent."""
        if self.n_requests is not None and self.issued >= self.n_requests:
            return None
        if self.duration_s is not None and self.now() >= self.duration_s:
            return None
        i = self.issued
        self.issued += 1
        return i

    def maybe_finish(self) -> None:
        spent = (self.n_requests is not None and self.issued >= self.n_requests) or (
            self.duration_s is not None and self.now() >= self.duration_s
        )
        if spent and self.inflight == 0:
            self.finished.set()

    def send(self, index: int, scheduled_s: float | None = None) -> dict:
        """Send request `index`, record it, fire Locust events; never raises."""
        self.inflight += 1
        try:
            rec = self.client.chat(self.bodies(index))
        finally:
            self.inflight -= 1
        t0 = self.t0 or 0.0
        for key in ("sent_s", "first_token_s", "end_s"):
            if rec.get(key) is not None:
                rec[key] -= t0
        rec["index"] = index
        if self.prompt_index is not None:
            rec["prompt_index"] = self.prompt_index(index)
        if scheduled_s is not None:
            rec["scheduled_s"] = scheduled_s
            rec["lag_ms"] = (rec["sent_s"] - scheduled_s) * 1000
        rec.update(self.tags)
        self.sink.add(rec)
        self.completed += 1
        if self.fire is not None:
            self._fire_events(rec)
        self.maybe_finish()
        return rec

    def _fire_events(self, rec: dict) -> None:
        exc = None if rec["ok"] else RuntimeError(rec.get("error", "failed"))
        self.fire(
            request_type="POST",
            name="chat",
            response_time=rec["e2e_ms"],
            response_length=rec.get("output_tokens") or 0,
            exception=exc,
            context={},
        )
        if rec["ok"]:
            for kind, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms")):
                if rec.get(key) is not None:
                    self.fire(
                        request_type=kind, name="chat", response_time=rec[key], response_length=0,
                        exception=None, context={},
                    )  # fmt: skip

    # open loop
    def dispatch(self) -> None:
        """Walk the schedule: sleep until each arrival, spawn its request, never wait for a response."""
        if self.t0 is None:
            self.start()
        pool = gevent.pool.Pool(self.max_inflight)
        for index, at in self.schedule:
            delay = at - self.now()
            if delay > 0:
                gevent.sleep(delay)
            if pool.full():
                self.dropped += 1
                self.sink.add({"index": index, "scheduled_s": at, "ok": False, "error": "dropped: max_inflight",
                               "dropped": True, **self.tags})  # fmt: skip
                continue
            self.issued += 1
            pool.spawn(self.send, index, at)
        if not pool.join(timeout=self.drain_timeout_s):
            stuck = len(pool)
            pool.kill(block=True, timeout=5)
            self.sink.add(
                {"ok": False, "error": f"drain timeout: {stuck} requests still in flight", **self.tags}
            )
        self.finished.set()


class ClosedLoopChatUser(User):
    """One of N concurrent users: next request right after the previous one (closed loop)."""

    abstract = True
    workload: Workload
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        index = self.workload.take_ticket()
        if index is None:
            self.workload.maybe_finish()
            raise StopUser()
        self.workload.send(index)


class OpenLoopDispatcher(User):
    """A single user that issues the whole open-loop schedule (arrivals independent of responses)."""

    abstract = True
    fixed_count = 1
    workload: Workload
    wait_time = constant(0)

    @task
    def dispatch(self) -> None:
        self.workload.dispatch()
        raise StopUser()


def bind(user_cls: type[User], workload: Workload, name: str | None = None) -> type[User]:
    """A concrete subclass of `user_cls` bound to `workload` (Locust instantiates classes, not objects)."""
    return type(name or user_cls.__name__.replace("ChatUser", "Bound"), (user_cls,), {
        "abstract": False, "workload": workload, "host": "http://unused"})  # fmt: skip
