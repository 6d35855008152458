"""TEST DOUBLE: a scripted fake of an OpenAI-compatible engine (vLLM- or SGLang-style), NOT a model.

It answers /v1/chat/completions and /v1/completions with made-up tokens ("tok0 tok1 ...") on a schedule the
test sets (`Script`): delay to the first token, delay between tokens, a status to answer instead (429/503),
a stream cut after N chunks (the connection dropped, no [DONE]), garbage instead of an answer or mid-stream,
a request accepted and never answered, vLLM's per-request
`metrics.speculative_decoding` block in bodies and in the final usage chunk (or SGLang's `meta_info`).
It records what it received and how many requests it saw cancelled by their client.

In-process: `with ScriptedUpstream(Script(...)) as up: up.url` runs a real uvicorn server on loopback in a
thread. As a process (benchmarks, kill tests): `python -m tests.fakes.scripted_upstream --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from specstack.net import LoopbackServer


@dataclass
class Script:
    """How the fake behaves; tests may change fields between requests."""

    tokens: int = 5  # output tokens (one per stream chunk)
    ttft_s: float = 0.0  # delay before the first token (non-stream: before the answer)
    token_delay_s: float = 0.0  # delay between tokens
    status: int | None = None  # answer this HTTP status instead (e.g. 429, 503)
    retry_after: str | None = None  # Retry-After header with `status`
    kill_after: int | None = None  # streams: drop the connection after this many token chunks
    engine: str = "vllm"  # "vllm": metrics.speculative_decoding; "sglang": meta_info; "none": no stats
    spec_steps: int = 2  # verify steps reported
    draft_tokens: int = 6  # draft tokens proposed
    accepted: int = 3  # draft tokens accepted -> tau = 1 + 3/2 = 2.5
    healthy: bool = True  # GET /health answers 200, else 503
    raw_body: bytes | None = None  # non-stream: answer 200 with these bytes instead (garbage, empty, huge)
    garbage_after: int | None = None  # streams: after this many token chunks send an event that is not JSON
    hang: bool = False  # accept the request and never answer (the engine is stuck)


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class _KilledStream(Exception):
    """Raised inside a streaming body: uvicorn then drops the connection mid-response."""


@dataclass
class ScriptedUpstream:
    """The fake engine. Use as a context manager to serve it on 127.0.0.1 in a background thread."""

    script: Script = field(default_factory=Script)
    name: str = "upstream"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    cancelled: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    record: bool = True

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._generate, methods=["POST"]),
                Route("/v1/completions", self._generate, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )
        self._server = LoopbackServer(self.app, name=f"fake-{self.name}", port=self.port)

    @property
    def url(self) -> str:
        return self._server.url

    # ---- serving in a thread ----

    def __enter__(self) -> ScriptedUpstream:
        self._server.start()
        self.port = self._server.port
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (open connections are cut after 1 s)."""
        self._server.stop()

    # ---- endpoints ----

    async def _health(self, request: Request) -> Response:
        return JSONResponse({}, 200 if self.script.healthy else 503)

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "test"}]}
        )

    async def _generate(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if self.record:
            self.received.append(Received(request.url.path, body, dict(request.headers)))
        s = self.script
        rid = request.headers.get("x-request-id", "fake")
        if s.status is not None:
            headers = {"Retry-After": s.retry_after} if s.retry_after else {}
            err = {
                "error": {
                    "message": f"scripted {s.status}",
                    "type": "scripted",
                    "param": None,
                    "code": s.status,
                }
            }
            return JSONResponse(err, s.status, headers)
        if s.hang:
            await asyncio.sleep(3600)
        if s.raw_body is not None and not body.get("stream"):
            return Response(s.raw_body, 200, media_type="application/json")
        chat = request.url.path.endswith("/chat/completions")
        prompt_tokens = _prompt_tokens(body)
        n = int(body.get("max_tokens") or body.get("max_completion_tokens") or s.tokens)
        n = min(n, s.tokens)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            gen = self._stream(request, rid, chat, body.get("model", ""), n, prompt_tokens, include_usage)
            return StreamingResponse(gen, media_type="text/event-stream", headers={"x-request-id": rid})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if not await self._sleep_unless_gone(request, s.ttft_s + s.token_delay_s * max(0, n - 1)):
                self.cancelled += 1
                return Response(status_code=499)
        finally:
            self.in_flight -= 1
        text = "".join(f"tok{i} " for i in range(n))
        choice: dict[str, Any] = {"index": 0, "finish_reason": "length" if n < s.tokens else "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        out = {
            "id": f"cmpl-{rid}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [choice],
            "usage": _usage(prompt_tokens, n),
        }
        self._add_stats(out, choice, n)
        return JSONResponse(out, headers={"x-request-id": rid})

    async def _stream(self, request: Request, rid: str, chat: bool, model: str, n: int, prompt_tokens: int,
                      include_usage: bool):  # fmt: skip
        s = self.script
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        base = {"id": f"chunk-{rid}", "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": model}  # fmt: skip

        def chunk(delta: dict | None = None, text: str | None = None, finish: str | None = None) -> bytes:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                choice["delta"] = delta or {}
            else:
                choice["text"] = text or ""
            return b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n"

        try:
            if s.ttft_s:
                await asyncio.sleep(s.ttft_s)
            if chat:
                yield chunk({"role": "assistant", "content": ""})
            for i in range(n):
                if i and s.token_delay_s:
                    await asyncio.sleep(s.token_delay_s)
                elif i % 256 == 0:  # let a client's disconnect be noticed even when tokens come at once
                    await asyncio.sleep(0)
                if s.kill_after is not None and i >= s.kill_after:
                    raise _KilledStream()
                if s.garbage_after is not None and i >= s.garbage_after:
                    yield b"data: \xff\xfe{not json at all\n\n"
                yield chunk({"content": f"tok{i} "}, f"tok{i} ")
            yield chunk({}, "", "length" if n < s.tokens else "stop")
            if include_usage:
                final = {**base, "choices": [], "usage": _usage(prompt_tokens, n)}
                self._add_stats(final, None, n)
                yield b"data: " + json.dumps(final).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    def _add_stats(self, out: dict, choice: dict | None, n: int) -> None:
        s = self.script
        if s.engine == "vllm":
            out["metrics"] = {
                "speculative_decoding": {
                    "mean_acceptance_length": 1 + s.accepted / s.spec_steps,
                    "draft_acceptance_rate": s.accepted / s.draft_tokens,
                    "acceptance_histogram": [0, 1, 1, 0],
                    "num_spec_steps": s.spec_steps,
                    "num_accepted_draft_tokens": s.accepted,
                    "num_draft_tokens": s.draft_tokens,
                    "num_spec_tokens": 3,
                }
            }
        elif s.engine == "sglang":
            meta = {"completion_tokens": n, "spec_verify_ct": s.spec_steps, "spec_accept_token_num": s.accepted,
                    "spec_draft_token_num": s.draft_tokens}  # fmt: skip
            (choice if choice is not None else out)["meta_info"] = meta

    @staticmethod
    async def _sleep_unless_gone(request: Request, seconds: float) -> bool:
        """Sleep; False as soon as the client disconnects."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.02))
            if await request.is_disconnected():
                return False
        return True


def _prompt_tokens(body: dict) -> int:
    if "messages" in body:
        text = " ".join(str(m.get("content") or "") for m in body["messages"] if isinstance(m, dict))
    else:
        text = str(body.get("prompt", ""))
    return max(1, len(text.split()))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve the scripted fake engine (a test double) on loopback.")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tokens", type=int, default=5)
    ap.add_argument("--ttft", type=float, default=0.0)
    ap.add_argument("--token-delay", type=float, default=0.0)
    ap.add_argument("--no-record", action="store_true", help="do not keep received requests (benchmarks)")
    a = ap.parse_args()
    up = ScriptedUpstream(Script(tokens=a.tokens, ttft_s=a.ttft, token_delay_s=a.token_delay), port=a.port,
                          record=not a.no_record)  # fmt: skip
    uvicorn.run(up.app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
