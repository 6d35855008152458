"""Sending one request to the engines: replica choice, retries before the first byte, timeouts.

A request may be retried on another replica only while the client has received nothing: on a connect
error, a connection dropped before the first byte, or a retryable status (429/502/503/504 by default).
For a stream the "first byte" is the first event from the engine: the gateway sends its own response
headers together with it, so until then it can still retry or answer an error status. A stream whose
first event does not arrive within `first_byte_s`, or a request that exceeds `total_s`, is answered 504.

The engine connections are aiohttp's (its C HTTP parser costs a quarter of httpx's CPU per request,
measured in bench/gateway.py's notes); one pooled session serves every replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from serving.gateway.config import GatewayConfig
from serving.gateway.errors import GatewayError, normalize_upstream_error
from serving.gateway.routing import Plan, Router
from serving.gateway.upstreams import Replica

CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def new_session(cfg: GatewayConfig) -> aiohttp.ClientSession:
    """The pooled engine session: no total timeout (the gateway keeps its own deadlines), raw bytes."""
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=cfg.timeouts.connect_s)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False, trust_env=False)


class Opened:
    """An engine's answer that is ready to go to the client. It holds a place on its replica until closed.

    - success, not streaming: `status` 200 and the whole `content`;
    - success, streaming: `status` 200, the `first` raw bytes of the stream and `rest`, an iterator over
      the remainder (the engine connection stays open);
    - error status passed on: `status`, `content` (OpenAI error JSON) and `headers` (e.g. Retry-After).
    """

    __slots__ = ("_done", "content", "first", "headers", "replica", "response", "rest", "status")

    def __init__(self, replica: Replica, status: int, *, content: bytes = b"", headers: dict[str, str] | None = None,
                 response: aiohttp.ClientResponse | None = None, first: bytes = b"",
                 rest: AsyncIterator[bytes] | None = None, released: bool = False) -> None:  # fmt: skip
        self.replica = replica
        self.status = status
        self.content = content
        self.headers = headers or {}
        self.response = response
        self.first = first
        self.rest = rest
        self._done = released

    def close(self, outcome: str) -> None:
        """Free the replica slot once. A finished stream's connection goes back to the pool; an unfinished one
        is closed, which makes the engine abort the request."""
        if self._done:
            return
        self._done = True
        if self.response is not None:
            if outcome == "ok" and self.response.content.at_eof():
                self.response.release()
            else:
                self.response.close()
        self.replica.release(outcome)


class Forwarder:
    """Sends requests to replicas over one pooled aiohttp session."""

    def __init__(self, cfg: GatewayConfig, session: aiohttp.ClientSession) -> None:
        self.cfg = cfg
        self.session = session
        self.retry_status = frozenset(cfg.retry.on_status)

    async def send(self, router: Router, path: str, body: bytes, headers: dict[str, str], *, stream: bool,
                   start: float) -> Opened:  # fmt: skip
        """Route with `router`, then try the plan's pools in order, at most `retry.attempts` replicas; `start` is
        the loop time the request arrived. Raises GatewayError for the 502/503/504 the gateway decides itself.

        The routing decision and the first replica's acquire() happen in one step, with no await between: the
        in-flight counts a decision reads must include every request decided before it, or a burst of
        requests arriving together would all see an idle speculative pool."""
        loop = asyncio.get_running_loop()
        plan = router.plan(loop.time())
        t = self.cfg.timeouts
        deadline = start + t.total_s
        first_deadline = min(deadline, start + t.first_byte_s) if stream else deadline
        tried: list[Replica] = []
        last: Opened | None = None
        last_problem = ""
        for _ in range(self.cfg.retry.attempts):
            replica = self._next(plan, tried, loop.time())
            if replica is None:
                break
            tried.append(replica)
            replica.acquire()
            response: aiohttp.ClientResponse | None = None
            try:
                async with asyncio.timeout_at(first_deadline):
                    response = await self.session.post(replica.url + path, data=body, headers=headers)
                    if response.status == 200 and stream:
                        rest = response.content.iter_any()
                        first = await anext(rest)
                        return Opened(replica, 200, response=response, first=first, rest=rest)
                    content = await response.read()
            except CONNECT_ERRORS as e:
                replica.release("connect_error")
                last_problem = f"cannot connect to {replica.url} ({type(e).__name__})"
                continue
            except TimeoutError:
                _close(response)
                replica.release("timeout")
                what = "first byte" if stream and loop.time() < deadline else "response"
                raise GatewayError(
                    504,
                    f"The model '{replica.model}' did not send its {what} in time.",
                    code="upstream_timeout",
                ) from None
            except (aiohttp.ClientError, StopAsyncIteration, OSError) as e:
                _close(response)
                replica.release("error")
                last_problem = f"{replica.url} failed before the first byte ({type(e).__name__})"
                continue
            except BaseException:  # client gone (cancelled) or shutting down
                _close(response)
                replica.release("cancelled")
                raise
            status = response.status
            replica.release("ok" if status == 200 else f"http_{status}")
            if status == 200:
                return Opened(replica, 200, content=content, released=True)
            passed = {"content-type": "application/json"}
            if "retry-after" in response.headers:
                passed["retry-after"] = response.headers["retry-after"]
            last = Opened(replica, status, content=normalize_upstream_error(status, content), headers=passed,
                          released=True)  # fmt: skip
            last_problem = f"{replica.url} answered HTTP {status}"
            if status not in self.retry_status:
                break
        if last is not None:
            return last
        if not tried:
            raise GatewayError(503, f"No available upstream for model '{plan.pools[0].replicas[0].model}'.",
                               code="no_healthy_upstream")  # fmt: skip
        raise GatewayError(502, f"Upstream failure: {last_problem}.", code="upstream_unreachable")

    @staticmethod
    def _next(plan: Plan, tried: list[Replica], now: float) -> Replica | None:
        for pool in plan.pools:
            replica = pool.pick(now, exclude=tried)
            if replica is not None:
                return replica
        if not tried:
            # Panic mode (as Envoy's): every replica failed its health checks. Probes can fail from overload
            # (a slow /health) as well as from death, so one attempt beats refusing everything; a dead replica
            # answers a connect error at once, and its circuit breaker soon stops even that.
            for pool in plan.pools:
                replica = pool.pick(now, exclude=tried, panic=True)
                if replica is not None:
                    return replica
        return None


def _close(response: aiohttp.ClientResponse | None) -> None:
    if response is not None:
        response.close()
