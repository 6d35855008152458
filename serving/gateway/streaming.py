"""Relaying an engine's server-sent events to the client as they arrive.

Bytes are forwarded as soon as an event is complete (only a partial event is ever held back). On the way
the relay reads each event to: time the first output chunk (TTFT) and the gaps between output chunks
(ITL); keep the final usage chunk's token counts and speculative statistics; drop that usage chunk when
the client did not ask for usage (the gateway always asks the engine for it). If the engine stream breaks,
sends something that is not a JSON event, runs past the gateway's time limit, or the gateway shuts down
under it, the client gets one OpenAI error event and `[DONE]`, never a hung or reset stream. A client that
stops reading holds its engine request only until the same time limit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from serving.gateway.errors import error_body
from serving.gateway.specstats import SpecStats, Usage, spec_stats, usage_of

DONE = b"[DONE]"


class BadEvent(Exception):
    """The engine sent something that is not a server-sent JSON event (or one over the size cap)."""


class StreamTally:
    """What a relay learned about its stream, for metrics and the rate limiter."""

    __slots__ = ("chunks", "done", "error_code", "first_token_at", "last_token_at", "spec", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.spec: SpecStats | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.chunks = 0
        self.done = False
        self.error_code: int | None = None  # set when the stream ended in an error event


def _has_output(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices")
    if not choices:
        return False
    for c in choices:
        if not isinstance(c, dict):
            continue
        d = c.get("delta")
        if isinstance(d, dict) and (
            d.get("content") or d.get("tool_calls") or d.get("reasoning_content") or d.get("reasoning")
        ):
            return True
        if c.get("text"):
            return True
    return False


def error_event(message: str, code: int, type_: str) -> bytes:
    return (
        b"data: "
        + json.dumps(error_body(message, type_, None, code)).encode()
        + b"\n\n"
        + b"data: [DONE]\n\n"
    )


class SSERelay:
    """An async iterator of byte blocks for the client, fed by one engine stream."""

    def __init__(self, first: bytes, rest: AsyncIterator[bytes], *, include_usage: bool, deadline: float,
                 on_token_gap: Any = None, max_event_bytes: int = 1 << 25) -> None:  # fmt: skip
        self.first = first
        self.rest = rest
        self.include_usage = include_usage
        self.deadline = deadline
        self.max_event_bytes = max_event_bytes
        self.tally = StreamTally()
        self._buf = b""
        self._on_gap = on_token_gap
        self.finished = False  # the stream reached its end (normally or with an error event we sent)
        self.broken = False  # it ended with an error event the gateway sent
        self.outcome = "ok"  # for the replica: ok, error, bad_response, deadline or draining
        self.client_gone = False  # the client disconnected: the engine stream was closed on purpose
        self.stopping = False  # the gateway is shutting down: the engine stream was closed on purpose
        self.bad = (
            False  # the engine sent something that is not a JSON event: the relay ends after what came before
        )

    def _event(self, event: bytes, now: float) -> bool:
        """Inspect one complete event (without its blank line); False drops it."""
        if not event.startswith(b"data:"):
            return True  # comments, named events: passed on untouched
        payload = event[5:].strip()
        if payload == DONE:
            self.tally.done = True
            return True
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise BadEvent from None
        if not isinstance(chunk, dict):
            raise BadEvent
        t = self.tally
        t.chunks += 1
        if isinstance(chunk.get("error"), dict):
            code = chunk["error"].get("code")
            t.error_code = code if isinstance(code, int) else 500
            return True
        usage = usage_of(chunk)
        if usage is not None:
            t.usage = usage
            stats = spec_stats(chunk)
            if stats is not None:
                t.spec = stats
            if not chunk.get("choices") and not self.include_usage:
                return False
        elif _has_output(chunk):
            if t.first_token_at is None:
                t.first_token_at = now
            elif self._on_gap is not None and t.last_token_at is not None:
                self._on_gap(now - t.last_token_at)
            t.last_token_at = now
        return True

    def _feed(self, data: bytes) -> bytes:
        """The complete events in `data` to pass on; after a bad event, only those before it (and `bad` set)."""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        buf = self._buf + data
        if b"\n\n" not in buf:
            self.bad = len(buf) > self.max_event_bytes
            self._buf = buf
            return b""
        *events, self._buf = buf.split(b"\n\n")
        now = time.perf_counter()
        out = []
        for e in events:
            try:
                keep = self._event(e, now)
            except BadEvent:
                self.bad = True
                break
            if keep:
                out.append(e + b"\n\n")
        return b"".join(out)

    def stop(self) -> None:
        """The gateway is shutting down: once the caller closes the engine stream, end with an error event."""
        self.stopping = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            out = self._feed(self.first)
            if out:
                yield out
            while not self.bad:
                async with asyncio.timeout_at(self.deadline):
                    data = await anext(self.rest)
                out = self._feed(data)
                if out:
                    yield out
            raise BadEvent
        except StopAsyncIteration:
            if self.client_gone:
                return
            if self.stopping:
                problem, code, kind, self.outcome = SHUTTING_DOWN
            elif self.tally.done or self.tally.error_code is not None:
                self.finished = True
                return
            else:
                problem, code, kind = (
                    "the model server ended the stream before it finished",
                    502,
                    "upstream_error",
                )
                self.outcome = "error"
        except TimeoutError:
            problem, code, kind = "the model did not finish within the gateway's time limit", 504, "timeout"
            self.outcome = "deadline"
        except BadEvent:
            problem, code, kind = (
                "the model server sent data that is not a server-sent JSON event",
                502,
                "upstream_error",
            )
            self.outcome = "bad_response"
        except (aiohttp.ClientError, OSError) as e:
            if self.client_gone:  # we closed the engine stream because nobody is listening
                return
            if self.stopping:
                problem, code, kind, self.outcome = SHUTTING_DOWN
            else:
                problem, code, kind = (
                    f"lost the model server mid-stream ({type(e).__name__})",
                    502,
                    "upstream_error",
                )
                self.outcome = "error"
        self.tally.error_code = code
        self.broken = True
        yield error_event(f"Stream interrupted: {problem}.", code, kind)
        self.finished = True


SEND_GRACE_S = 1.0
SHUTTING_DOWN = (
    "the gateway is shutting down; send the request again",
    503,
    "service_unavailable",
    "draining",
)


class RelayResponse(StreamingResponse):
    """A streaming response that always runs `on_close` once it ends: finished, failed or client gone.

    `gone` is the request's watcher of the client connection, already running. When the client leaves,
    `close_engine` closes the engine stream at once, which ends the relay (and makes the engine abort).
    This replaces Starlette's own disconnect listener, a task group per response that cost ~60 us of CPU.
    """

    def __init__(self, relay: SSERelay, gone: asyncio.Future, close_engine: Callable[[], None], on_close: Any,
                 headers: dict[str, str]) -> None:  # fmt: skip
        super().__init__(relay.__aiter__(), 200, headers, media_type="text/event-stream")
        self._relay, self._gone, self._close_engine, self._on_close = relay, gone, close_engine, on_close

    def _client_left(self, gone: asyncio.Future) -> None:
        if not gone.cancelled() and gone.exception() is None:
            self._relay.client_gone = True
            self._close_engine()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._gone.add_done_callback(self._client_left)
        try:
            # A client that stops reading blocks these sends; it may do so only until the relay's deadline (and
            # a grace second, so that the relay's own deadline fires first for a client that does read).
            async with asyncio.timeout_at(self._relay.deadline + SEND_GRACE_S):
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                async for chunk in self.body_iterator:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self._stop_watching()  # before the last message: a finished response reads as a disconnect
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:  # the client stopped reading: end its engine request and drop the connection
            self._relay.client_gone = True
            self._close_engine()
        finally:
            self._stop_watching()
            await self._on_close(self.body_iterator)

    def _stop_watching(self) -> None:
        self._gone.remove_done_callback(self._client_left)
        self._gone.cancel()
