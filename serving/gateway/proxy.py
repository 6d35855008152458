"""Sending one request to the engines: replica choice, retries before the first byte, timeouts.

A request may be retried on another replica only while the client has received nothing: on a connect
error, a connection dropped before the first byte, or a retryable status (429/502/503/504 by default).
For a stream the "first byte" is the first event from the engine: the gateway sends its own response
headers together with it, so until then it can still retry or answer an error status. A stream whose
first event does not arrive within `first_byte_s`, or a request that exceeds `total_s`, is answered 504.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio
import httpx

from serving.gateway.config import GatewayConfig
from serving.gateway.errors import GatewayError, normalize_upstream_error
from serving.gateway.routing import Plan
from serving.gateway.upstreams import Replica


class Opened:
    """An engine's answer that is ready to go to the client. It holds a place on its replica until closed.

    - success, not streaming: `status` 200 and the whole `content`;
    - success, streaming: `status` 200, the `first` raw bytes of the stream and `rest`, an iterator over
      the remainder (the stream stays open);
    - error status passed on: `status`, `content` (OpenAI error JSON) and `headers` (e.g. Retry-After).
    """

    __slots__ = ("_done", "content", "first", "headers", "replica", "response", "rest", "status")

    def __init__(self, replica: Replica, status: int, *, content: bytes = b"", headers: dict[str, str] | None = None,
                 response: httpx.Response | None = None, first: bytes = b"",
                 rest: AsyncIterator[bytes] | None = None, released: bool = False) -> None:  # fmt: skip
        self.replica = replica
        self.status = status
        self.content = content
        self.headers = headers or {}
        self.response = response
        self.first = first
        self.rest = rest
        self._done = released

    async def close(self, outcome: str) -> None:
        """Close the engine connection (cancelling its work if unfinished) and free the replica slot once."""
        if self._done:
            return
        self._done = True
        if self.response is not None:
            with anyio.CancelScope(shield=True):
                await self.response.aclose()
        self.replica.release(outcome)


class Forwarder:
    """Sends requests to replicas with one shared connection pool."""

    def __init__(self, cfg: GatewayConfig, client: httpx.AsyncClient) -> None:
        self.cfg = cfg
        self.client = client
        self.retry_status = frozenset(cfg.retry.on_status)

    async def send(self, plan: Plan, path: str, body: bytes, headers: dict[str, str], *, stream: bool,
                   start: float) -> Opened:  # fmt: skip
        """Try the plan's pools in order, at most `retry.attempts` replicas; `start` is the loop time the
        request arrived. Raises GatewayError for 502/503/504 the gateway decides itself."""
        loop = asyncio.get_running_loop()
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
            req = self.client.build_request("POST", replica.url + path, content=body, headers=headers)
            response: httpx.Response | None = None
            try:
                async with asyncio.timeout_at(first_deadline):
                    response = await self.client.send(req, stream=True)
                    if response.status_code == 200 and stream:
                        rest = response.aiter_raw()
                        first = await anext(rest)
                        return Opened(replica, 200, response=response, first=first, rest=rest)
                    content = await response.aread()
            except TimeoutError:
                await _close_quietly(response)
                replica.release("timeout")
                what = "first byte" if stream and loop.time() < deadline else "response"
                raise GatewayError(
                    504,
                    f"The model '{replica.model}' did not send its {what} in time.",
                    code="upstream_timeout",
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                replica.release("connect_error")
                last_problem = f"cannot connect to {replica.url} ({type(e).__name__})"
                continue
            except (httpx.HTTPError, StopAsyncIteration, OSError) as e:
                await _close_quietly(response)
                replica.release("error")
                last_problem = f"{replica.url} failed before the first byte ({type(e).__name__})"
                continue
            except BaseException:  # client gone (cancelled) or shutting down
                await _close_quietly(response)
                replica.release("cancelled")
                raise
            await response.aclose()
            status = response.status_code
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
            raise GatewayError(503, f"No healthy upstream for model '{plan.pools[0].replicas[0].model}'.",
                               code="no_healthy_upstream")  # fmt: skip
        raise GatewayError(502, f"Upstream failure: {last_problem}.", code="upstream_unreachable")

    @staticmethod
    def _next(plan: Plan, tried: list[Replica], now: float) -> Replica | None:
        for pool in plan.pools:
            replica = pool.pick(now, exclude=tried)
            if replica is not None:
                return replica
        return None


async def _close_quietly(response: httpx.Response | None) -> None:
    if response is not None:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(httpx.HTTPError, OSError):
                await response.aclose()
