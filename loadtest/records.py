"""One request's measurements, from the bytes of an OpenAI-compatible SSE stream (no network here).

Definitions follow sglang.bench_serving / vllm bench serve:
- TTFT: send -> first chunk that carries content (text, reasoning or tool-call delta).
- ITL: gaps between consecutive content chunks (per chunk: with speculation one chunk may hold several tokens).
- TPOT: (E2E - TTFT) / (output tokens - 1), per token.
- E2E: send -> last byte of the stream.
- τ (acceptance length, bonus token included): vLLM's `metrics.speculative_decoding.mean_acceptance_length`
  from the final usage chunk, or SGLang's `meta_info` / `sglext` (completion_tokens / spec_verify_ct).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Columns of requests.csv, in order (requests.jsonl has these plus the full `itl_ms` list).
CSV_FIELDS = [
    "phase", "deployment", "scenario", "concurrency", "rate", "index", "prompt_index", "ok", "status", "error",
    "scheduled_s", "sent_s", "lag_ms", "first_token_s", "end_s", "ttft_ms", "e2e_ms", "tpot_ms",
    "itl_ms_mean", "itl_ms_max", "chunks", "output_tokens", "prompt_tokens", "tau", "spec_steps",
    "draft_tokens", "accepted_tokens", "num_spec_tokens", "spec_source",
]  # fmt: skip


def spec_stats(obj: dict) -> dict | None:
    """Per-request speculative statistics in one stream chunk or response body, as record fields.

    The parsing is the gateway's (serving.gateway.specstats): vLLM's `metrics.speculative_decoding`, SGLang's
    `meta_info` (top level or per choice) and `sglext.spec_tokens_details`.
    """
    from serving.gateway.specstats import spec_stats as parse

    stats = parse(obj)
    if stats is None:
        return None
    sd = (
        (obj.get("metrics") or {}).get("speculative_decoding")
        if isinstance(obj.get("metrics"), dict)
        else None
    )
    return {
        "spec_source": stats.engine,
        "tau": float(stats.acceptance_length),
        "spec_steps": stats.verify_steps,
        "draft_tokens": stats.draft_tokens,
        "accepted_tokens": stats.accepted_tokens,
        "num_spec_tokens": sd.get("num_spec_tokens") if isinstance(sd, dict) else None,
    }


def _has_content(chunk: dict) -> bool:
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if (
            delta.get("content")
            or delta.get("reasoning_content")
            or delta.get("reasoning")
            or delta.get("tool_calls")
        ):
            return True
        if choice.get("text"):  # /v1/completions streams
            return True
    return False


@dataclass
class StreamTimer:
    """Feed it the stream's lines with their arrival times; `record()` gives the measurements."""

    t_send: float
    content_times: list[float] = field(default_factory=list)
    usage: dict | None = None
    spec: dict | None = None
    error: str | None = None
    done: bool = False
    last_byte: float | None = None

    def feed_line(self, line: bytes | str, now: float) -> None:
        """One line of the SSE stream (with or without its newline), received at `now`."""
        self.last_byte = now
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        line = line.strip()
        if not line.startswith("data:"):
            return
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            self.error = self.error or f"bad SSE data: {data[:80]}"
            return
        if not isinstance(chunk, dict):
            return
        if "error" in chunk and not chunk.get("choices"):
            err = chunk["error"]
            self.error = self.error or str(err.get("message", err) if isinstance(err, dict) else err)
        if _has_content(chunk):
            self.content_times.append(now)
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        stats = spec_stats(chunk)
        if stats is not None:
            self.spec = stats

    def record(self, t_end: float) -> dict[str, Any]:
        """Measurements in milliseconds; times (`*_s`) stay in the caller's clock for the caller to shift."""
        e2e = (t_end - self.t_send) * 1000
        rec: dict[str, Any] = {"e2e_ms": e2e, "end_s": t_end, "chunks": len(self.content_times)}
        if self.content_times:
            first = self.content_times[0]
            rec["first_token_s"] = first
            rec["ttft_ms"] = (first - self.t_send) * 1000
            gaps = [(b - a) * 1000 for a, b in zip(self.content_times, self.content_times[1:], strict=False)]
            rec["itl_ms"] = gaps
            if gaps:
                rec["itl_ms_mean"] = sum(gaps) / len(gaps)
                rec["itl_ms_max"] = max(gaps)
        out_tokens = None
        if self.usage:
            out_tokens = self.usage.get("completion_tokens")
            rec["prompt_tokens"] = self.usage.get("prompt_tokens")
        if out_tokens is None:
            out_tokens = len(self.content_times)  # no usage chunk: count chunks (a lower bound on tokens)
        rec["output_tokens"] = out_tokens
        if out_tokens and out_tokens > 1 and "ttft_ms" in rec:
            rec["tpot_ms"] = (e2e - rec["ttft_ms"]) / (out_tokens - 1)
        if self.spec:
            rec.update(self.spec)
        ok = self.error is None and self.done
        rec["ok"] = ok
        if not self.content_times:
            rec["empty"] = True  # a complete answer with no visible text (e.g. EOS at once): no TTFT/ITL
        if not ok:
            rec["error"] = self.error or "stream ended without [DONE]"
        return rec
