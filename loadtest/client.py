"""A streaming chat client for gevent (Locust's runtime) that times every line as it arrives.

geventhttpclient's `readline` hands back each SSE line as soon as its bytes are in, so chunk times are
the arrival times (a fixed-size `read(n)` would wait for n bytes and blur TTFT and ITL).
"""

from __future__ import annotations

import json
import time
from typing import Any

from geventhttpclient import URL, HTTPClient

from loadtest.records import StreamTimer


def split_base_url(base_url: str) -> tuple[str, str]:
    """(server root, path prefix) from a base URL given with or without a trailing /v1."""
    url = base_url.rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    u = URL(url)
    return f"{u.scheme}://{u.host}:{u.port}", u.path.rstrip("/")


class ChatStreamClient:
    """POST /v1/chat/completions with stream=true, one shared connection pool for all greenlets."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float, concurrency: int) -> None:
        root, prefix = split_base_url(base_url)
        self.path = f"{prefix}/v1/chat/completions"
        self.http = HTTPClient.from_url(
            URL(root),
            concurrency=concurrency,
            connection_timeout=min(30.0, timeout_s),
            network_timeout=timeout_s,
        )
        self.headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        self.http.close()

    def first_model(self) -> str:
        """The first model id the server lists at /v1/models."""
        resp = self.http.get(self.path.replace("/chat/completions", "/models"), headers=self.headers)
        try:
            return json.loads(resp.read())["data"][0]["id"]
        finally:
            resp.release()

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one streaming request; returns its record (times in perf_counter seconds)."""
        payload = json.dumps({**body, "stream": True}).encode()
        t_send = time.perf_counter()
        timer = StreamTimer(t_send=t_send)
        status = None
        try:
            resp = self.http.request("POST", self.path, body=payload, headers=self.headers)
        except Exception as e:
            rec = timer.record(time.perf_counter())
            rec.update(ok=False, error=f"{type(e).__name__}: {e}", status=None, sent_s=t_send)
            return rec
        status = resp.status_code
        try:
            if status != 200:
                text = resp.read().decode("utf-8", errors="replace")
                timer.error = f"HTTP {status}: {_error_message(text)}"
            else:
                while True:
                    line = resp.readline(b"\n")
                    if not line:
                        break
                    timer.feed_line(line, time.perf_counter())
        except Exception as e:
            timer.error = f"{type(e).__name__}: {e}"
        finally:
            resp.release()
        rec = timer.record(timer.last_byte if timer.done and timer.last_byte else time.perf_counter())
        rec["status"] = status
        rec["sent_s"] = t_send
        return rec


def _error_message(text: str) -> str:
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict):
            return str(err.get("message", err))[:200]
        if err:
            return str(err)[:200]
    except (ValueError, AttributeError):
        pass
    return text[:200]
