"""The gateway's own Prometheus metrics, `specstack_gateway_*`, in a registry of their own.

Every family is documented in docs/metrics.md. Label values stay bounded: models and key names come from
the config, upstreams are the configured URLs, statuses are HTTP codes.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from serving.gateway.specstats import SpecStats, Usage

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60)
ITL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.25, 0.5, 1, 2.5)
TAU_BUCKETS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    """All families, created in a fresh registry (so tests can build many gateways in one process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        p = "specstack_gateway_"
        mk = ("model", "key")
        self.requests = Counter(
            p + "requests", "Requests answered, by model, endpoint, HTTP status and API key name.",
            ["model", "endpoint", "status", "key"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            p + "request_duration_seconds", "End-to-end latency at the gateway: request received to last byte sent.",
            ["model", "endpoint", "stream"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            p + "time_to_first_token_seconds", "Streams: request received to the first chunk carrying output.",
            ["model"], buckets=TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.itl = Histogram(
            p + "inter_token_latency_seconds",
            "Streams: gap between consecutive output chunks (one chunk may carry several tokens with speculation).",
            ["model"], buckets=ITL_BUCKETS, registry=r,
        )  # fmt: skip
        self.prompt_tokens = Counter(p + "prompt_tokens", "Prompt tokens, from engine usage.", mk, registry=r)
        self.completion_tokens = Counter(
            p + "completion_tokens", "Completion tokens, from engine usage.", mk, registry=r
        )
        self.spec_requests = Counter(
            p + "spec_requests", "Requests that carried speculative statistics.", mk, registry=r
        )
        self.spec_draft_tokens = Counter(
            p + "spec_draft_tokens", "Draft tokens proposed by the speculator.", mk, registry=r
        )
        self.spec_accepted_tokens = Counter(
            p + "spec_accepted_tokens", "Draft tokens accepted by the target (bonus tokens excluded).", mk,
            registry=r,
        )  # fmt: skip
        self.spec_verify_steps = Counter(
            p + "spec_verify_steps", "Target verify steps; tau = (accepted + steps) / steps.", mk, registry=r
        )
        self.spec_acceptance_length = Histogram(
            p + "spec_acceptance_length", "Per-request acceptance length tau (tokens per verify step, bonus "
            "included), as the engine reported it.", mk, buckets=TAU_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(p + "in_flight_requests", "Requests being served now.", ["model"], registry=r)
        up = ("model", "pool", "upstream")
        self.upstream_in_flight = Gauge(
            p + "upstream_in_flight_requests", "Requests outstanding on each engine replica.", up, registry=r
        )
        self.upstream_healthy = Gauge(
            p + "upstream_healthy", "1 when the replica passes its health checks, else 0.", up, registry=r
        )
        self.upstream_circuit_open = Gauge(
            p + "upstream_circuit_open",
            "1 while the replica's circuit breaker is open, else 0.",
            up,
            registry=r,
        )
        self.upstream_attempts = Counter(
            p + "upstream_attempts", "Attempts sent to each replica, by outcome (ok, http_<status>, connect_error, "
            "timeout, error); more attempts than requests means retries.", [*up, "outcome"], registry=r,
        )  # fmt: skip
        self.routing_decisions = Counter(
            p + "routing_decisions", "Load-aware routing: which pool each request went to, and why.",
            ["model", "pool", "reason"], registry=r,
        )  # fmt: skip
        self.ratelimit_store_errors = Counter(
            p + "ratelimit_store_errors", "Rate-limit calls that found Redis away (this replica's own limits applied).",
            registry=r,
        )  # fmt: skip

        self._children: dict[tuple, Any] = {}

    def child(self, family: Any, *labels: str) -> Any:
        """`family.labels(*labels)`, cached: prometheus-client's own lookup validates and locks on every call."""
        key = (id(family), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = family.labels(*labels)
        return found

    def observe_usage(self, model: str, key: str, usage: Usage) -> None:
        self.child(self.prompt_tokens, model, key).inc(usage.prompt_tokens)
        self.child(self.completion_tokens, model, key).inc(usage.completion_tokens)

    def observe_spec(self, model: str, key: str, stats: SpecStats) -> None:
        self.child(self.spec_requests, model, key).inc()
        self.child(self.spec_draft_tokens, model, key).inc(stats.draft_tokens)
        self.child(self.spec_accepted_tokens, model, key).inc(stats.accepted_tokens)
        self.child(self.spec_verify_steps, model, key).inc(stats.verify_steps)
        self.child(self.spec_acceptance_length, model, key).observe(stats.acceptance_length)

    def render(self) -> bytes:
        return generate_latest(self.registry)
