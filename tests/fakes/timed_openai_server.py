"""TEST DOUBLE: an OpenAI-compatible streaming chat server with scripted timing (not an engine).

Each request streams its chunks on a fixed clock measured from the moment it gets a slot: the first
content chunk at +ttft, chunk j at +ttft + j*itl (absolute deadlines, so the delays do not drift),
then a final usage chunk carrying vLLM-style `metrics.speculative_decoding` (or SGLang-style
`meta_info`), then `data: [DONE]`. Options model a saturating server (`--slots`: requests wait for a
free slot, so a rate above slots/service-time builds a queue) and a server that slows down
(`--slow-after-s`/`--slow-factor`). `/metrics` exports vLLM's spec-decode counters.

Run: `python -m tests.fakes.timed_openai_server --port N [...]`, or `with timed_server(...) as url:`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

MODEL = "timed-fake"


def build_app(args: argparse.Namespace) -> FastAPI:
    app = FastAPI()
    state = {"first": None, "drafts": 0, "draft_tokens": 0, "accepted": 0, "requests": 0}
    slots = asyncio.Semaphore(args.slots) if args.slots else None

    def factor(now: float) -> float:
        if args.slow_after_s is None or state["first"] is None:
            return 1.0
        return args.slow_factor if now - state["first"] >= args.slow_after_s else 1.0

    def spec_numbers(n_out: int) -> dict | None:
        if args.spec_style == "none" or n_out < 2:
            return None
        steps = max(1, round((n_out - 1) / args.tau))
        accepted = round((args.tau - 1) * steps)
        return {"steps": steps, "accepted": accepted, "drafts": args.spec_k * steps}

    @app.get("/health")
    async def health():
        return PlainTextResponse("")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]}

    @app.get("/metrics")
    async def metrics():
        lines = []
        for name, key in (
            ("vllm:spec_decode_num_drafts_total", "drafts"),
            ("vllm:spec_decode_num_draft_tokens_total", "draft_tokens"),
            ("vllm:spec_decode_num_accepted_tokens_total", "accepted"),
            ("vllm:request_success_total", "requests"),
        ):
            lines += [f"# TYPE {name[:-6]} counter", f'{name}{{model_name="{MODEL}"}} {float(state[key])}']
        return PlainTextResponse("\n".join(lines) + "\n")

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        loop = asyncio.get_running_loop()
        if state["first"] is None:
            state["first"] = time.monotonic()
        n_out = max(1, min(int(body.get("max_tokens") or args.tokens), args.tokens))
        per = args.tokens_per_chunk
        n_chunks = math.ceil(n_out / per)
        spec = spec_numbers(n_out)
        stream = bool(body.get("stream"))
        if not stream:
            return JSONResponse(
                {
                    "error": {
                        "message": "this test double only streams",
                        "type": "invalid_request_error",
                        "param": "stream",
                        "code": None,
                    }
                },
                status_code=400,
            )

        async def gen():
            if slots:
                await slots.acquire()
            try:
                t0 = loop.time()
                f = factor(time.monotonic())
                ttft, itl = args.ttft_ms / 1000 * f, args.itl_ms / 1000 * f
                sent = 0
                for j in range(n_chunks):
                    delay = t0 + ttft + j * itl - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    k = min(per, n_out - sent)
                    sent += k
                    delta = {"content": "tok " * k}
                    if j == 0:
                        delta["role"] = "assistant"
                    chunk = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": MODEL,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                final = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "model": MODEL,
                    "choices": [],
                    "usage": {"prompt_tokens": 7, "completion_tokens": n_out, "total_tokens": 7 + n_out},
                }
                if spec and args.spec_style == "vllm":
                    final["metrics"] = {
                        "speculative_decoding": {
                            "mean_acceptance_length": 1 + spec["accepted"] / spec["steps"],
                            "draft_acceptance_rate": spec["accepted"] / spec["drafts"],
                            "acceptance_histogram": [],
                            "num_spec_steps": spec["steps"],
                            "num_accepted_draft_tokens": spec["accepted"],
                            "num_draft_tokens": spec["drafts"],
                            "num_spec_tokens": args.spec_k,
                        }
                    }
                elif spec and args.spec_style == "sglang":
                    final["meta_info"] = {
                        "completion_tokens": n_out,
                        "spec_verify_ct": spec["steps"],
                        "spec_accept_token_num": spec["accepted"],
                        "spec_draft_token_num": spec["drafts"],
                    }
                if spec:
                    state["drafts"] += spec["steps"]
                    state["draft_tokens"] += spec["drafts"]
                    state["accepted"] += spec["accepted"]
                state["requests"] += 1
                yield f"data: {json.dumps(final)}\n\n"
                yield "data: [DONE]\n\n"
            finally:
                if slots:
                    slots.release()

        return StreamingResponse(gen(), media_type="text/event-stream")

    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument(
        "--ttft-ms", type=float, default=100.0, help="First content chunk this long after the slot."
    )
    p.add_argument("--itl-ms", type=float, default=20.0, help="Gap between content chunks.")
    p.add_argument("--tokens", type=int, default=16, help="Output tokens per request (capped by max_tokens).")
    p.add_argument("--tokens-per-chunk", type=int, default=1, help="Tokens in each chunk (speculation-like).")
    p.add_argument("--spec-style", choices=["vllm", "sglang", "none"], default="vllm")
    p.add_argument("--spec-k", type=int, default=3, help="Reported num_spec_tokens.")
    p.add_argument("--tau", type=float, default=2.5, help="Reported acceptance length.")
    p.add_argument("--slots", type=int, default=0, help="Requests served at once (0: unlimited).")
    p.add_argument("--slow-after-s", type=float, default=None, help="After this long, multiply the delays.")
    p.add_argument("--slow-factor", type=float, default=1.0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    uvicorn.run(build_app(args), host=args.host, port=args.port, log_level="warning", access_log=False)


@contextlib.contextmanager
def timed_server(**options) -> Iterator[str]:
    """Start the double on a free loopback port in a subprocess; yields its base URL; stops it after."""
    import httpx

    from specstack.net import free_port

    port = free_port()
    argv = [sys.executable, "-m", "tests.fakes.timed_openai_server", "--port", str(port)]
    for key, value in options.items():
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"timed test server exited: {proc.stderr.read()[-500:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("timed test server did not become healthy in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
