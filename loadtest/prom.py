"""The deployment's own view of τ: engine /metrics scraped before and after a phase.

vLLM: τ = 1 + Δaccepted / Δdrafts (`vllm:spec_decode_num_accepted_tokens_total`,
`vllm:spec_decode_num_drafts_total`). SGLang: the `sglang:spec_accept_length` gauge after the phase.
A cross-check for the per-request numbers, and the only source when the engine does not report
per-request statistics. The exposition text is parsed by `prometheus_client`'s parser.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

WANTED = (
    "vllm:spec_decode_num_drafts_total",
    "vllm:spec_decode_num_accepted_tokens_total",
    "vllm:spec_decode_num_draft_tokens_total",
    "sglang:spec_accept_length",
)


def parse_metrics(text: str) -> dict[str, float]:
    """Sum of each wanted sample over its label sets, from Prometheus text (ValueError if it is not)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in WANTED:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def scrape(base_url: str, api_key: str | None = None, timeout_s: float = 5.0) -> dict[str, float] | None:
    """The wanted metrics of a server, or None when it has no readable /metrics."""
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(root + "/metrics", timeout=timeout_s, headers=headers)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    try:
        return parse_metrics(r.text)
    except ValueError:
        return None


def tau_between(before: dict[str, float] | None, after: dict[str, float] | None) -> float | None:
    """τ over the interval between two scrapes, or None when the server exports no spec metrics."""
    if not after:
        return None
    drafts = after.get("vllm:spec_decode_num_drafts_total")
    if drafts is not None:
        d = drafts - (before or {}).get("vllm:spec_decode_num_drafts_total", 0.0)
        a = after.get("vllm:spec_decode_num_accepted_tokens_total", 0.0) - (before or {}).get(
            "vllm:spec_decode_num_accepted_tokens_total", 0.0
        )
        return 1 + a / d if d > 0 else None
    return after.get("sglang:spec_accept_length")
