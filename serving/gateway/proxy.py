"""Sending one request to the engines: replica choice, retries before the first byte, timeouts.

A request may be retried on another replica only while the client has received nothing: on a connect
error, a connection dropped before the first byte, an answer that is not one (a 200 whose body is not a
JSON object, a stream that is not server-sent events), or a retryable status (429/502/503/504 by default).
For a stream the "first byte" is the first event from the engine: the gateway sends its own response
headers together with it, so until then it can still retry or answer an error status. A stream whose
first event does not arrive within `first_byte_s` is answered 504 and counts against the replica; a request
that exceeds `total_s` is answered 504 too, but the replica is not blamed (the client's budget ran out).
An engine that refuses the gateway's own credentials (401/403) is the gateway's misconfiguration: the
client gets 502, never an authentication error on its own key. Error messages name replicas by pool and
index, never by their internal URL.

The engine connections are aiohttp's (its C HTTP parser costs a quarter of httpx's CPU per request,
measured in bench/gateway.py's notes); one pooled session serves every replica.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator

import aiohttp

from serving.gateway.config import GatewayConfig
from serving.gateway.errors import GatewayError, normalize_upstream_error
from serving.gateway.routing import Plan, Router
from serving.gateway.upstreams import Replica

CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
EVENT_STREAM = "text/event-stream"


class BadAnswer(Exception):
    """An engine's 200 that is not an answer the client could use."""


def new_session(cfg: GatewayConfig) -> aiohttp.ClientSession:
    """The pooled engine session: no total timeout (the gateway keeps its own deadlines), raw bytes."""
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=cfg.timeouts.connect_s)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False, trust_env=False)


class Opened:
    """An engine's answer that is ready to go to the client. It holds a place on its replica until closed.

    - success, not streaming: `status` 200, the whole `content` and its parsed `answer`;
    - success, streaming: `status` 200, the `first` raw bytes of the stream and `rest`, an iterator over
      the remainder (the engine connection stays open);
    - error status passed on: `status`, `content` (OpenAI error JSON) and `headers` (e.g. Retry-After).
    """

    __slots__ = ("_done", "answer", "content", "first", "headers", "replica", "response", "rest", "status")

    def __init__(self, replica: Replica, status: int, *, content: bytes = b"", answer: dict | None = None,
                 headers: dict[str, str] | None = None, response: aiohttp.ClientResponse | None = None,
                 first: bytes = b"", rest: AsyncIterator[bytes] | None = None,
                 released: bool = False) -> None:  # fmt: skip
        self.replica = replica
        self.status = status
        self.content = content
        self.answer = answer
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
        last_problem, last_code = "", "upstream_unreachable"
        cap = self.cfg.limits.max_response_bytes
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
                        if not response.content_type.startswith(EVENT_STREAM):
                            raise BadAnswer(f"a stream of {response.content_type or 'no type'}")
                        rest = response.content.iter_any()
                        first = await anext(rest)
                        replica.answered()
                        return Opened(replica, 200, response=response, first=first, rest=rest)
                    content = await _read_capped(response, cap)
                    answer = _parse_answer(content) if response.status == 200 else None
            except CONNECT_ERRORS as e:
                replica.release("connect_error")
                last_problem = f"cannot connect to the {replica.label} ({type(e).__name__})"
                continue
            except TimeoutError:
                _close(response)
                total = first_deadline >= deadline
                replica.release("deadline" if total else "timeout")
                what = "response" if total or not stream else "first byte"
                raise GatewayError(
                    504,
                    f"The model '{replica.model}' did not send its {what} in time.",
                    code="upstream_timeout",
                ) from None
            except ResponseTooLarge:
                _close(response)
                replica.release("bad_response")
                raise GatewayError(502, f"The model's answer is larger than this gateway's limit of {cap} bytes.",
                                   code="upstream_response_too_large") from None  # fmt: skip
            except BadAnswer as e:
                _close(response)
                replica.release("bad_response")
                last_problem, last_code = f"the {replica.label} answered {e}", "upstream_bad_response"
                continue
            except (aiohttp.ClientError, StopAsyncIteration, OSError) as e:
                _close(response)
                replica.release("error")
                last_problem = f"the {replica.label} failed before the first byte ({type(e).__name__})"
                continue
            except BaseException:  # client gone (cancelled) or shutting down
                _close(response)
                replica.release("cancelled")
                raise
            status = response.status
            replica.release("ok" if status == 200 else f"http_{status}")
            if status == 200:
                return Opened(replica, 200, content=content, answer=answer, released=True)
            if status in (401, 403):
                raise GatewayError(
                    502,
                    f"The model's engines refused this gateway's own API key (HTTP {status}): the gateway's "
                    "upstream_api_key is misconfigured; your key is fine.",
                    code="upstream_auth_failed",
                )
            passed = {"content-type": "application/json"}
            if "retry-after" in response.headers:
                passed["retry-after"] = response.headers["retry-after"]
            last = Opened(replica, status, content=normalize_upstream_error(status, content), headers=passed,
                          released=True)  # fmt: skip
            last_problem = f"the {replica.label} answered HTTP {status}"
            if status not in self.retry_status:
                break
        if last is not None:
            return last
        if not tried:
            wait = max(1, math.ceil(min(pool.retry_in(loop.time()) for pool in plan.pools)))
            raise GatewayError(503, f"No available upstream for model '{router.model}'.",
                               code="no_healthy_upstream", headers={"Retry-After": str(wait)})  # fmt: skip
        raise GatewayError(502, f"Upstream failure: {last_problem}.", code=last_code)

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


class ResponseTooLarge(Exception):
    """An engine's answer over `limits.max_response_bytes`."""


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The whole body, or ResponseTooLarge as soon as it is known to exceed `cap` bytes."""
    if (response.content_length or 0) > cap:
        raise ResponseTooLarge
    parts, size = [], 0
    async for part in response.content.iter_any():
        size += len(part)
        if size > cap:
            raise ResponseTooLarge
        parts.append(part)
    return b"".join(parts)


def _parse_answer(content: bytes) -> dict:
    """A 200 must carry a JSON object (a completion); anything else is the engine failing."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadAnswer("200 with a body that is not a JSON object" if content else "200 with an empty body")
    return data


def _close(response: aiohttp.ClientResponse | None) -> None:
    if response is not None:
        response.close()
