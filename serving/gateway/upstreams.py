"""Engine replicas and pools: least-outstanding-requests choice, active health checks, circuit breakers.

A replica is eligible while it passes its health checks and its circuit breaker lets requests through.
Everything here runs on the event loop's single thread: choosing a replica and counting the request on it
happen with no await in between, so concurrent requests see each other's counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import aiohttp

from serving.gateway.config import CircuitBreaker, HealthChecks
from serving.gateway.metrics import GatewayMetrics

log = logging.getLogger("specstack.gateway")

SPECULATIVE = "speculative"
PLAIN = "plain"

# Outcomes that say the replica itself is in trouble (a 429 or a 4xx does not, nor does "deadline": the
# gateway's own total_s cutting a healthy generation short, nor "draining": the gateway shutting down).
FAILURES = frozenset(
    {"connect_error", "timeout", "error", "bad_response", "http_500", "http_502", "http_503", "http_504"}
)


# Outcomes that say nothing about the replica: the client left, or the gateway ended the request itself.
NEUTRAL = frozenset({"cancelled", "deadline", "draining"})


class Breaker:
    """Closed -> open after `threshold` consecutive failures; after `open_s`, half-open lets one trial through:
    its success (for a stream: its first event) closes the circuit, its failure opens it again."""

    __slots__ = ("failures", "open_s", "open_until", "state", "threshold", "trial_in_flight")

    def __init__(self, cfg: CircuitBreaker) -> None:
        self.threshold = cfg.failure_threshold
        self.open_s = cfg.open_s
        self.state = "closed"
        self.failures = 0
        self.open_until = 0.0
        self.trial_in_flight = False

    def allows(self, now: float) -> bool:
        if self.state == "closed":
            return True
        if self.state == "open":
            if now < self.open_until:
                return False
            self.state = "half_open"
        return not self.trial_in_flight

    def retry_in(self, now: float) -> float:
        """Seconds until this breaker may let a request through again (0.0 if it does now)."""
        if self.state == "open":
            return max(0.0, self.open_until - now)
        return 1.0 if self.trial_in_flight else 0.0

    def on_dispatch(self) -> None:
        if self.state == "half_open":
            self.trial_in_flight = True

    def on_success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self.trial_in_flight = False

    def on_failure(self, now: float) -> None:
        self.failures += 1
        self.trial_in_flight = False
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state = "open"
            self.open_until = now + self.open_s


class Replica:
    """One engine server (a base URL) in one pool of one model."""

    def __init__(
        self,
        url: str,
        model: str,
        pool: str,
        breaker: CircuitBreaker,
        metrics: GatewayMetrics,
        index: int = 0,
    ) -> None:
        self.url = url
        self.model = model
        self.pool = pool
        self.label = f"{pool} replica {index}"  # what clients may read; the URL stays in logs and metrics
        self.outstanding = 0
        self.healthy = True
        self.check_failures = 0
        self.breaker = Breaker(breaker)
        labels = (model, pool, url)
        self._g_in_flight = metrics.upstream_in_flight.labels(*labels)
        self._g_healthy = metrics.upstream_healthy.labels(*labels)
        self._g_open = metrics.upstream_circuit_open.labels(*labels)
        self._attempts = metrics.upstream_attempts
        self._metrics = metrics
        self._labels = labels
        self._g_healthy.set(1)
        self._g_open.set(0)

    def __repr__(self) -> str:
        return f"Replica({self.pool} {self.url}, outstanding={self.outstanding}, healthy={self.healthy})"

    def available(self, now: float) -> bool:
        return self.healthy and self.breaker.allows(now)

    def acquire(self) -> None:
        """Count a request sent to this replica (call release() exactly once when it ends)."""
        self.outstanding += 1
        self._g_in_flight.inc()
        self.breaker.on_dispatch()

    def answered(self) -> None:
        """The engine has started answering (a stream's first event): it works, so a half-open circuit closes
        now rather than after a generation that may take minutes."""
        if self.breaker.state != "closed":
            self.breaker.on_success()
            self._g_open.set(0)

    def release(self, outcome: str, now: float | None = None) -> None:
        """The request ended: `outcome` is 'ok', 'http_<status>', 'connect_error', 'timeout', 'bad_response',
        'error' (failures, counted against the circuit breaker), 'deadline', 'draining' or 'cancelled' (the
        gateway or the client ended it: neither a failure nor a success)."""
        self.outstanding -= 1
        self._g_in_flight.dec()
        self._attempts.labels(*self._labels, outcome).inc()
        if outcome in FAILURES:
            self.breaker.on_failure(time.monotonic() if now is None else now)
        elif outcome not in NEUTRAL:
            self.breaker.on_success()
        self._g_open.set(1 if self.breaker.state == "open" else 0)
        if outcome == "connect_error":
            self.set_healthy(False)

    def retire(self) -> None:
        """The replica left its pool (discovery): drop its per-replica gauge series."""
        self._metrics.upstream_in_flight.remove(*self._labels)
        self._metrics.upstream_healthy.remove(*self._labels)
        self._metrics.upstream_circuit_open.remove(*self._labels)

    def set_healthy(self, healthy: bool) -> None:
        if healthy != self.healthy:
            log.warning("upstream %s (%s, %s) is now %s", self.url, self.model, self.pool,
                        "healthy" if healthy else "UNHEALTHY")  # fmt: skip
        self.healthy = healthy
        self._g_healthy.set(1 if healthy else 0)


class Pool:
    """The replicas of one model that run the same way (speculative or plain)."""

    def __init__(self, name: str, replicas: list[Replica], model: str | None = None) -> None:
        self.name = name
        self.replicas = replicas
        self.model = model if model is not None else (replicas[0].model if replicas else "")
        self._turn = 0

    def set_members(self, urls: list[str], make: Callable[[str, int], Replica]) -> None:
        """Discovery: keep the replicas at `urls`, add new ones (`make(url, index)`), retire the others (a request
        already on a retired replica finishes; the replica is just no longer picked)."""
        current = {r.url: r for r in self.replicas}
        if set(current) == set(urls):
            return
        kept = [current[u] if u in current else make(u, i) for i, u in enumerate(urls)]
        for r in self.replicas:
            if r.url not in urls:
                r.retire()
        log.info("pool %s: %d replicas (%s)", self.name, len(kept), ", ".join(urls))
        self.replicas = kept

    def pick(self, now: float, exclude: Iterable[Replica] = (), panic: bool = False) -> Replica | None:
        """The eligible replica with the fewest outstanding requests (ties rotate); None if there is none.
        `panic`: ignore the health checks (the circuit breaker still counts)."""
        best: Replica | None = None
        n = len(self.replicas)
        if n == 0:
            return None
        self._turn = (self._turn + 1) % n
        for i in range(n):
            r = self.replicas[(self._turn + i) % n]
            if r in exclude or not (r.breaker.allows(now) if panic else r.available(now)):
                continue
            if best is None or r.outstanding < best.outstanding:
                best = r
        return best

    def retry_in(self, now: float) -> float:
        """Seconds until some replica's circuit lets a request through again."""
        return min((r.breaker.retry_in(now) for r in self.replicas), default=1.0)

    def healthy_count(self, now: float) -> int:
        return sum(r.available(now) for r in self.replicas)


class HealthChecker:
    """Probes every replica's health path at a fixed interval; `unhealthy_after` failures in a row mark it down,
    one success brings it back."""

    def __init__(self, pools: list[Pool], cfg: HealthChecks, session: aiohttp.ClientSession) -> None:
        self.pools = pools
        self.cfg = cfg
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)

    async def check(self, replica: Replica) -> bool:
        try:
            async with self.session.get(replica.url + self.cfg.path, timeout=self.timeout) as r:
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            ok = False
        if ok:
            replica.check_failures = 0
            replica.set_healthy(True)
        else:
            replica.check_failures += 1
            if replica.check_failures >= self.cfg.unhealthy_after or not replica.healthy:
                replica.set_healthy(False)
        return ok

    async def check_all(self, first: bool = False) -> None:
        """One round over all replicas; on the first round a single failure marks a replica down."""
        replicas = [r for pool in self.pools for r in pool.replicas]  # as of now: discovery may change them
        results = await asyncio.gather(*(self.check(r) for r in replicas))
        if first:
            for r, ok in zip(replicas, results, strict=True):
                if not ok:
                    r.set_healthy(False)

    async def run(self, sleep: Callable[[float], object] = asyncio.sleep) -> None:
        while True:
            await sleep(self.cfg.interval_s)
            try:
                await self.check_all()
            except Exception:  # a probe bug must not end the loop
                log.exception("health check round failed")
