"""Load-aware speculation: which pool a request goes to first.

Speculative decoding wins at small batch sizes and stops paying as the engine's batch grows (the load test
measures the crossover). So while the least-loaded speculative replica has fewer requests in flight than
`spec_inflight_threshold`, a request goes to the speculative pool; above it, to the plain pool. The other
pool stays as the fallback for retries. Every decision is counted with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.gateway.config import ModelRoute
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.upstreams import PLAIN, SPECULATIVE, Pool

# Reasons, as they appear in specstack_gateway_routing_decisions_total{reason=...}.
ONLY_POOL = "only_pool"
UNDER_THRESHOLD = "under_threshold"
OVER_THRESHOLD = "over_threshold"
SPEC_UNAVAILABLE = "speculative_unavailable"
PLAIN_UNAVAILABLE = "plain_unavailable"


@dataclass(frozen=True, slots=True)
class Plan:
    """Pools to try, in order; `pool` and `reason` describe the first choice."""

    pools: tuple[Pool, ...]
    pool: str
    reason: str


class Router:
    """The routing policy of one model."""

    def __init__(self, model: str, route: ModelRoute, spec: Pool | None, plain: Pool | None,
                 metrics: GatewayMetrics) -> None:  # fmt: skip
        self.model = model
        self.threshold = route.spec_inflight_threshold
        self.spec = spec
        self.plain = plain
        self._decisions = metrics.routing_decisions
        self._count: dict[tuple[str, str], object] = {}

    def plan(self, now: float) -> Plan:
        """Decide (and count) where a request goes first."""
        spec, plain = self.spec, self.plain
        if spec is None or plain is None:
            only = spec or plain
            assert only is not None
            return self._decided(Plan((only,), only.name, ONLY_POOL))
        best = spec.pick(now)
        if best is None:
            return self._decided(Plan((plain, spec), PLAIN, SPEC_UNAVAILABLE))
        if self.threshold is None or best.outstanding < self.threshold:
            return self._decided(Plan((spec, plain), SPECULATIVE, UNDER_THRESHOLD))
        if plain.pick(now) is None:
            return self._decided(Plan((spec, plain), SPECULATIVE, PLAIN_UNAVAILABLE))
        return self._decided(Plan((plain, spec), PLAIN, OVER_THRESHOLD))

    def _decided(self, plan: Plan) -> Plan:
        counter = self._count.get((plan.pool, plan.reason))
        if counter is None:
            counter = self._count[(plan.pool, plan.reason)] = self._decisions.labels(
                self.model, plan.pool, plan.reason
            )
        counter.inc()
        return plan

    def all_pools(self) -> list[Pool]:
        return [p for p in (self.spec, self.plain) if p is not None]
