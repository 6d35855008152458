"""The gateway's FastAPI app: OpenAI-compatible endpoints in front of the engine pools.

Per request: the envelope middleware gives it a request id (the client's X-Request-Id or a new one, sent to
the engine and back), refuses an address with too many failed key checks, authenticates the key, applies
the key's rate limit, the gateway-wide in-flight cap, the body size limit and the body read timeout, and
accounts for it once it has ended (metrics, token settlement, access log). The endpoint validates the
body, checks the model and the key's allow-list, reserves the key's tokens, picks a pool (load-aware
speculation), forwards, and answers with the engine's bytes: whole, or relayed event by event for streams.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.gateway.auth import ApiKey, KeyStore
from serving.gateway.config import GatewayConfig
from serving.gateway.discovery import Discovery, is_discovered
from serving.gateway.errors import ERROR_TYPES, GatewayError, error_body
from serving.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from serving.gateway.proxy import Forwarder, Opened, new_session
from serving.gateway.ratelimit import FailedAuthLimiter, RateLimiter
from serving.gateway.routing import Router
from serving.gateway.schemas import ChatCompletionRequest, CompletionRequest
from serving.gateway.specstats import SpecStats, Usage, spec_stats, usage_of
from serving.gateway.streaming import RelayResponse, SSERelay
from serving.gateway.upstreams import PLAIN, SPECULATIVE, HealthChecker, Pool, Replica
from specstack import __version__
from specstack.errors import SpecstackError

log = logging.getLogger("specstack.gateway")

CTX = "specstack.gateway.ctx"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
ENDPOINTS = {
    "/v1/chat/completions": "chat_completions",
    "/v1/completions": "completions",
    "/v1/models": "models",
}
GENERATION_ENDPOINTS = frozenset({"chat_completions", "completions"})
DRAIN_MARGIN_S = 0.5  # streams are ended this long before uvicorn's drain deadline cuts their connections
JSON = "application/json"


class RequestContext:
    """What one /v1 request accumulates on its way; read back by the envelope when it ends."""

    __slots__ = ("admitted", "endpoint", "in_flight", "key", "model", "pool", "request_id", "reserved", "spec",
                 "start", "status", "stream", "upstream", "usage")  # fmt: skip

    def __init__(self, request_id: str, endpoint: str) -> None:
        self.request_id = request_id
        self.endpoint = endpoint
        self.start = time.perf_counter()
        self.key: ApiKey | None = None
        self.model = "unknown"  # only configured names, so metric labels stay bounded
        self.stream = False
        self.status: int | None = None  # set when the HTTP status does not tell (client gone, stream broken)
        self.usage: Usage | None = None
        self.spec: SpecStats | None = None
        self.pool = "-"
        self.upstream = "-"
        self.in_flight = False
        self.admitted = False  # counted against the gateway-wide in-flight cap
        self.reserved = 0  # tokens reserved from the key's per-minute budget


class Gateway:
    """Everything one gateway instance holds: config, keys, limiter, metrics, pools and the HTTP client."""

    def __init__(self, cfg: GatewayConfig, keys: KeyStore, metrics: GatewayMetrics | None = None) -> None:
        self.cfg = cfg
        self.keys = keys
        self.metrics = metrics or GatewayMetrics()
        self.limiter = RateLimiter(self._shared_store())
        self.auth_guard = FailedAuthLimiter(cfg.failed_auth_per_minute)
        self.metrics_token = _metrics_token(cfg)
        self.active = 0  # generation requests in progress (the in-flight cap)
        # open streams and how to close their engine side, for ending them if a drain runs out
        self.open_streams: dict[SSERelay, Any] = {}
        self.routers: dict[str, Router] = {}
        self.pools: list[Pool] = []
        dns_names: list[tuple[Pool, list[str]]] = []  # pools (also) made of `dns+` names, filled by discovery
        for name, route in cfg.models.items():
            pools = {}
            for pool_name, urls in ((SPECULATIVE, route.speculative), (PLAIN, route.plain)):
                if urls:
                    fixed = [u for u in urls if not is_discovered(u)]
                    replicas = [self._replica(name, pool_name, u, i) for i, u in enumerate(fixed)]
                    pool = Pool(pool_name, replicas, model=name)
                    dns_names.append((pool, [u for u in urls if is_discovered(u)]))
                    self.pools.append(pool)
                    pools[pool_name] = pool
            self.routers[name] = Router(name, route, pools.get(SPECULATIVE), pools.get(PLAIN), self.metrics)
        self.discovery = Discovery(dns_names, lambda pool, url, i: self._replica(
            pool.model, pool.name, url, i), cfg.discovery_interval_s)  # fmt: skip
        self.session: aiohttp.ClientSession | None = None
        self.forwarder: Forwarder | None = None
        self.draining = False
        self._drain_timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task] = []

    def _shared_store(self) -> Any:
        """Redis-backed buckets when `shared_limits` is configured, else None (in-process buckets)."""
        if self.cfg.shared_limits is None:
            return None
        from serving.gateway.sharedlimits import RedisBuckets

        return RedisBuckets(self.cfg.shared_limits, self.metrics.ratelimit_store_errors.inc)

    def _replica(self, model: str, pool: str, url: str, index: int) -> Replica:
        return Replica(url, model, pool, self.cfg.breaker, self.metrics, index)

    @property
    def replicas(self) -> list[Replica]:
        return [r for pool in self.pools for r in pool.replicas]

    async def start(self) -> None:
        self.session = new_session(self.cfg)
        self.forwarder = Forwarder(self.cfg, self.session)
        await self.discovery.refresh()
        checker = HealthChecker(self.pools, self.cfg.health, self.session)
        await checker.check_all(first=True)
        self._tasks = [asyncio.create_task(checker.run(), name="gateway-health-checks")]
        if self.discovery.targets:
            self._tasks.append(asyncio.create_task(self.discovery.run(), name="gateway-discovery"))

    async def stop(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
        close = getattr(self.limiter.store, "close", None)
        if close is not None:
            await close()

    def begin_drain(self) -> None:
        """Shutdown starts: /ready answers 503 from now on, and streams still open `DRAIN_MARGIN_S` before the
        drain deadline are ended with an error event (rather than reset mid-chunk by uvicorn)."""
        self.draining = True
        if self._drain_timer is None:
            end_at = max(0.0, self.cfg.drain_timeout_s - DRAIN_MARGIN_S)
            self._drain_timer = asyncio.get_running_loop().call_later(end_at, self._end_open_streams)

    def _end_open_streams(self) -> None:
        for relay, close_engine in list(self.open_streams.items()):
            relay.stop()
            close_engine()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        models = {}
        for name, router in self.routers.items():
            models[name] = {p.name: {"available": p.healthy_count(now), "replicas": len(p.replicas)}
                            for p in router.all_pools()}  # fmt: skip
        ready = not self.draining and all(
            any(v["available"] for v in pools.values()) for pools in models.values()
        )
        return ready, {"ready": ready, "draining": self.draining, "models": models}

    # ---- the proxied endpoints ----

    async def handle(
        self, request: Request, body: ChatCompletionRequest | CompletionRequest, path: str
    ) -> Response:
        ctx: RequestContext = request.scope[CTX]
        assert ctx.key is not None
        model = body.model
        router = self.routers.get(model)
        if router is None:
            raise GatewayError(404, f"The model '{model[:100]}' does not exist.", code="model_not_found",
                               param="model")  # fmt: skip
        if not ctx.key.may_use(model):
            raise GatewayError(403, f"This API key may not use the model '{model}'.", code="model_not_allowed",
                               param="model")  # fmt: skip
        ctx.model = model
        ctx.in_flight = True
        self.metrics.child(self.metrics.in_flight, model).inc()
        self._check_limits(body)
        route = self.cfg.models[model]

        payload = body.model_dump(exclude_unset=True)
        payload["model"] = route.upstream_model or model
        payload.update(route.request_extra)
        stream = ctx.stream = bool(body.stream)
        include_usage = bool(stream and body.stream_options and body.stream_options.include_usage)
        if stream:  # always ask for usage: it carries the token counts and the speculative statistics
            payload["stream_options"] = {**(payload.get("stream_options") or {}), "include_usage": True}
        data = _encode(payload)
        max_tokens = body.max_completion_tokens if isinstance(body, ChatCompletionRequest) else None
        ctx.reserved = await self.limiter.reserve_tokens(
            ctx.key, body.prompt_chars(), max_tokens or body.max_tokens
        )
        headers = {"content-type": JSON, "accept-encoding": "identity", "x-request-id": ctx.request_id}
        if route.upstream_api_key:
            headers["authorization"] = f"Bearer {route.upstream_api_key}"

        loop = asyncio.get_running_loop()
        start = loop.time() - (time.perf_counter() - ctx.start)
        assert self.forwarder is not None
        # One watcher of the client's connection per request: it cancels the engine request while we wait
        # for the first byte, and then ends the stream's relay (see RelayResponse).
        gone = asyncio.ensure_future(_disconnected(request.receive))
        opened = await _unless_client_leaves(
            gone, self.forwarder.send(router, path, data, headers, stream=stream, start=start)
        )
        if opened is None:  # the client went away while we waited: the engine request is already cancelled
            ctx.status = 499
            return Response(status_code=499)
        ctx.pool, ctx.upstream = opened.replica.pool, opened.replica.url
        out_headers = {"x-specstack-pool": opened.replica.pool}
        if opened.status != 200 or not stream:
            gone.cancel()  # nothing left to relay: the answer is whole
        if opened.status != 200:
            return Response(opened.content, opened.status, {**opened.headers, **out_headers}, media_type=JSON)
        if not stream:
            assert opened.answer is not None
            ctx.usage, ctx.spec = usage_of(opened.answer), spec_stats(opened.answer)
            return Response(opened.content, 200, out_headers, media_type=JSON)
        return self._relay(ctx, opened, include_usage, start + self.cfg.timeouts.total_s, out_headers, gone)

    def _check_limits(self, body: ChatCompletionRequest | CompletionRequest) -> None:
        lim = self.cfg.limits
        if isinstance(body, ChatCompletionRequest) and len(body.messages) > lim.max_messages:
            raise GatewayError(400, f"Too many messages: {len(body.messages)} > {lim.max_messages}.",
                               param="messages", code="too_many_messages")  # fmt: skip
        for name in ("max_tokens", "max_completion_tokens"):
            value = getattr(body, name, None)
            if value is not None and value > lim.max_tokens:
                raise GatewayError(400, f"{name} {value} exceeds this gateway's limit of {lim.max_tokens}.",
                                   param=name, code="max_tokens_too_large")  # fmt: skip
        chars = body.prompt_chars()
        if chars > lim.max_prompt_chars:
            raise GatewayError(400, f"The prompt has {chars} characters, more than {lim.max_prompt_chars}.",
                               param="messages" if isinstance(body, ChatCompletionRequest) else "prompt",
                               code="prompt_too_long")  # fmt: skip

    def _relay(self, ctx: RequestContext, opened: Opened, include_usage: bool, deadline: float,
               headers: dict[str, str], gone: asyncio.Future) -> Response:  # fmt: skip
        assert opened.rest is not None and opened.response is not None
        itl = self.metrics.child(self.metrics.itl, ctx.model)
        relay = SSERelay(opened.first, opened.rest, include_usage=include_usage, deadline=deadline,
                         on_token_gap=itl.observe, max_event_bytes=self.cfg.limits.max_response_bytes)  # fmt: skip
        ttft = self.metrics.child(self.metrics.ttft, ctx.model)
        self.open_streams[relay] = opened.response.close

        async def on_close(body_iterator: Any) -> None:
            self.open_streams.pop(relay, None)
            with anyio.CancelScope(shield=True):
                await body_iterator.aclose()
            opened.close(relay.outcome if relay.finished else "cancelled")
            t = relay.tally
            ctx.usage, ctx.spec = t.usage, t.spec
            if t.first_token_at is not None:
                ttft.observe(t.first_token_at - ctx.start)
            if not relay.finished:
                ctx.status = 499
            elif t.error_code is not None:
                ctx.status = t.error_code

        headers = {**headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
        return RelayResponse(relay, gone, opened.response.close, on_close, headers)

    def list_models(self, key: ApiKey) -> dict[str, Any]:
        created = int(time.time())
        data = [{"id": name, "object": "model", "created": created, "owned_by": "specstack"}
                for name in self.routers if key.may_use(name)]  # fmt: skip
        return {"object": "list", "data": data}

    # ---- accounting, once a /v1 request has ended ----

    async def account(self, ctx: RequestContext, status: int) -> None:
        m = self.metrics
        key = ctx.key.name if ctx.key is not None else "-"
        status = ctx.status or status
        m.child(m.requests, ctx.model, ctx.endpoint, str(status), key).inc()
        stream = "true" if ctx.stream else "false"
        m.child(m.request_duration, ctx.model, ctx.endpoint, stream).observe(time.perf_counter() - ctx.start)
        if ctx.in_flight:
            m.child(m.in_flight, ctx.model).dec()
        if ctx.usage is not None:
            m.observe_usage(ctx.model, key, ctx.usage)
        if ctx.admitted:
            self.active -= 1
        if ctx.spec is not None:
            m.observe_spec(ctx.model, key, ctx.spec)
        if ctx.key is not None and ctx.reserved:
            # real usage when the engine reported it; else the reservation stands if an engine was reached
            used = ctx.usage.total if ctx.usage is not None else (ctx.reserved if ctx.upstream != "-" else 0)
            await self.limiter.settle_tokens(ctx.key, ctx.reserved, used)
        if self.cfg.access_log:
            log.info("%s key=%s model=%s %s status=%s pool=%s upstream=%s %.1fms", ctx.request_id, key, ctx.model,
                     ctx.endpoint, status, ctx.pool, ctx.upstream, (time.perf_counter() - ctx.start) * 1e3)  # fmt: skip


async def _unless_client_leaves(gone: asyncio.Future, work: Any) -> Opened | None:
    """Await `work`, unless the client disconnects first (`gone` completes): then cancel it (closing the
    engine connection, which makes the engine abort the request) and return None. `gone` keeps running
    when `work` wins; the caller owns it."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the gateway itself is being stopped
        task.cancel()
        gone.cancel()
        raise
    if task.done():
        if task.exception() is not None:
            gone.cancel()
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Envelope:
    """ASGI middleware around every request: request id, auth, rate limit, body limit, accounting."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gw = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = auth = length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")
            elif name == b"authorization":
                auth = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        if rid is None or not REQUEST_ID.fullmatch(rid):
            rid = uuid.uuid4().hex
        rid_header = (b"x-request-id", rid.encode())
        sent = [500, False]  # status, response started

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent[0], sent[1] = message["status"], True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        path = scope["path"]
        if not path.startswith("/v1/"):
            await self.app(scope, receive, send_with_id)
            return
        ctx = RequestContext(rid, ENDPOINTS.get(path, "other"))
        scope[CTX] = ctx
        address = scope["client"][0] if scope.get("client") else "-"
        try:
            self.gw.auth_guard.check(address)
            try:
                ctx.key = self.gw.keys.authenticate(auth)
            except GatewayError:
                self.gw.auth_guard.failed(address)
                raise
            await self.gw.limiter.admit(ctx.key)
            if ctx.endpoint in GENERATION_ENDPOINTS:
                self._admit()
                ctx.admitted = True
            receive = self._guard_body(length, receive)
            await self.app(scope, receive, send_with_id)
        except GatewayError as e:
            await e.response()(scope, receive, send_with_id)
        except Exception:
            log.exception("%s: unexpected error", rid)
            if not sent[1]:
                body = error_body("Internal gateway error.", ERROR_TYPES[500], None, None)
                await JSONResponse(body, 500)(scope, receive, send_with_id)
        finally:
            await self.gw.account(ctx, sent[0])

    def _admit(self) -> None:
        """Count a generation request against the gateway-wide cap, or shed it with 503."""
        if self.gw.active >= self.gw.cfg.limits.max_in_flight:
            raise GatewayError(503, "The gateway is at its limit of requests in progress; retry shortly.",
                               code="gateway_overloaded", headers={"Retry-After": "1"})  # fmt: skip
        self.gw.active += 1

    def _guard_body(self, length: bytes | None, receive: Receive) -> Receive:
        """`receive` with the body size limit (413) and a timeout on each piece of the body (408)."""
        limit = self.gw.cfg.limits.max_body_bytes
        timeout = self.gw.cfg.timeouts.client_body_s
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                raise GatewayError(400, "Invalid Content-Length header.") from None
            if too_big:
                raise _too_large(limit)
        seen = 0
        body_done = False

        async def guarded() -> Message:
            nonlocal seen, body_done
            if body_done:  # later calls wait for the disconnect, without a timeout
                return await receive()
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                raise GatewayError(408, f"The request body did not arrive within {timeout:g} s.",
                                   code="request_timeout") from None  # fmt: skip
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
                body_done = not message.get("more_body", False)
            return message

        return guarded


def _encode(payload: dict[str, Any]) -> bytes:
    """The engine's request body, as standard JSON in UTF-8 (400 for what neither allows)."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except UnicodeEncodeError:
        raise GatewayError(400, "The request contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not "
                           "valid Unicode.", code="invalid_unicode") from None  # fmt: skip
    except ValueError:
        raise GatewayError(400, "The request contains NaN or Infinity, which JSON does not allow.",
                           code="invalid_number") from None  # fmt: skip


def _metrics_token(cfg: GatewayConfig) -> bytes | None:
    """The bearer token /metrics requires, from the environment variable the config names."""
    if cfg.metrics_token_env is None:
        return None
    token = os.environ.get(cfg.metrics_token_env, "")
    if not token:
        raise SpecstackError(f"gateway.metrics_token_env names {cfg.metrics_token_env}, which is not set")
    return token.encode()


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"Request body larger than {limit} bytes.", code="request_too_large")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | int | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse, "description": d}
    for s, d in {
        400: "Invalid request (validation, size limits).",
        401: "Missing or invalid API key.",
        403: "The key may not use this model.",
        404: "Unknown model.",
        408: "The request body did not arrive in time.",
        413: "Request body too large.",
        429: "Rate limited (Retry-After says when to retry), by the gateway or passed on from an engine.",
        502: "The engines could not be reached or failed.",
        503: "No healthy engine for the model, or the gateway is at its in-flight limit (Retry-After).",
        504: "The engine did not answer in time.",
    }.items()
}
GENERATION = {200: {"description": "JSON, or server-sent events when stream is true.",
                    "content": {JSON: {}, "text/event-stream": {}}}, **ERRORS}  # fmt: skip


def create_app(cfg: GatewayConfig, keys: KeyStore | None = None) -> FastAPI:
    """The gateway app; engines are probed when it starts and the HTTP pool closed when it stops."""
    gw = Gateway(cfg, keys if keys is not None else KeyStore.from_config(cfg))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    # No trailing-slash redirects: their Location would be built from the client's Host header.
    app = FastAPI(title="specstack gateway", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, redirect_slashes=False)  # fmt: skip
    app.state.gateway = gw

    @app.post("/v1/chat/completions", responses=GENERATION, response_class=Response)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        """OpenAI chat completions, forwarded to the model's engines (stream or not)."""
        return await gw.handle(request, body, "/v1/chat/completions")

    @app.post("/v1/completions", responses=GENERATION, response_class=Response)
    async def completions(body: CompletionRequest, request: Request) -> Response:
        """OpenAI text completions, forwarded to the model's engines (stream or not)."""
        return await gw.handle(request, body, "/v1/completions")

    @app.get("/v1/models", responses={401: ERRORS[401]})
    async def models(request: Request) -> dict[str, Any]:
        """The models this key may use."""
        return gw.list_models(request.scope[CTX].key)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the gateway process answers."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"description": "Draining, or a model has no healthy engine."}})
    async def ready() -> JSONResponse:
        """Readiness: every model has at least one healthy engine replica, and the gateway is not draining."""
        ok, detail = gw.readiness()
        return JSONResponse(detail, 200 if ok else 503)

    @app.get("/metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus text format: the specstack_gateway_* families (docs/metrics.md); with
        `metrics_token_env` set, only for a bearer of that token."""
        if gw.metrics_token is not None:
            presented = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
            if not hmac.compare_digest(presented, gw.metrics_token):
                raise GatewayError(
                    401, "GET /metrics needs the metrics bearer token.", code="invalid_metrics_token"
                )
        return Response(gw.metrics.render(), media_type=CONTENT_TYPE)

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return GatewayError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})).response()

    app.add_middleware(Envelope, gateway=gw)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def validation_error(exc: RequestValidationError) -> GatewayError:
    """FastAPI's 422 as OpenAI's 400: the first problem, named by its field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    msg = first.get("msg", "invalid request")
    if first.get("type") == "json_invalid":
        msg, param = "The request body is not valid JSON.", None
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    where = f"{param}: " if param else ""
    return GatewayError(400, f"Invalid request: {where}{msg}{more}.", param=param, code="invalid_request")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with bearer auth declared on /v1 and the 422 it documents replaced by our 400."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
    }
    for path, ops in schema["paths"].items():
        for op in ops.values():
            op.get("responses", {}).pop("422", None)
            if path.startswith("/v1/"):
                op["security"] = [{"bearer": []}]
                op["responses"].setdefault("429", {"description": ERRORS[429]["description"]})
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"].get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
