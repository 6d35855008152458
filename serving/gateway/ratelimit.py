"""Per-key rate limits as token buckets: requests per second (with a burst) and tokens per minute.

The request bucket is taken from when a request is admitted. The token bucket cannot know a request's
cost in advance, so a request is admitted while the key's token budget is positive and charged its real
usage (prompt + completion tokens) when it ends; the budget may go negative, and the key waits until it
refills. Refusals raise GatewayError(429) with Retry-After in whole seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from serving.gateway.auth import ApiKey
from serving.gateway.config import RateLimits
from serving.gateway.errors import GatewayError


class TokenBucket:
    """`capacity` units, refilled at `rate` units per second; `level` may go negative after a charge."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float, amount: float = 1.0) -> float:
        """Take `amount` if the bucket holds it: returns 0.0, else the seconds until it will (nothing taken)."""
        self._refill(now)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.rate

    def wait_positive(self, now: float) -> float:
        """0.0 while the level is positive, else the seconds until it is."""
        self._refill(now)
        if self.level > 0:
            return 0.0
        return (-self.level) / self.rate + 1e-3

    def charge(self, now: float, amount: float) -> None:
        self._refill(now)
        self.level -= amount


class RateLimiter:
    """Buckets per key name, made on first use from the key's limits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._requests: dict[str, TokenBucket | None] = {}
        self._tokens: dict[str, TokenBucket | None] = {}

    def _buckets(self, key: ApiKey) -> tuple[TokenBucket | None, TokenBucket | None]:
        name = key.name
        if name not in self._requests:
            now = self._clock()
            self._requests[name] = _request_bucket(key.limits, now)
            self._tokens[name] = _token_bucket(key.limits, now)
        return self._requests[name], self._tokens[name]

    def admit(self, key: ApiKey) -> None:
        """Take one request from the key's budget or raise GatewayError(429) with Retry-After."""
        requests, tokens = self._buckets(key)
        if requests is None and tokens is None:
            return
        now = self._clock()
        if tokens is not None:
            wait = tokens.wait_positive(now)
            if wait > 0:
                raise _too_many(key, "tokens per minute", wait)
        if requests is not None:
            wait = requests.take(now)
            if wait > 0:
                raise _too_many(key, "requests per second", wait)

    def charge_tokens(self, key: ApiKey, used: int) -> None:
        """Charge a finished request's real token usage to the key."""
        _, tokens = self._buckets(key)
        if tokens is not None and used > 0:
            tokens.charge(self._clock(), used)


def _request_bucket(limits: RateLimits, now: float) -> TokenBucket | None:
    if limits.requests_per_second is None:
        return None
    burst = limits.burst or max(1, math.ceil(limits.requests_per_second))
    return TokenBucket(limits.requests_per_second, burst, now)


def _token_bucket(limits: RateLimits, now: float) -> TokenBucket | None:
    if limits.tokens_per_minute is None:
        return None
    return TokenBucket(limits.tokens_per_minute / 60.0, limits.tokens_per_minute, now)


def _too_many(key: ApiKey, what: str, wait: float) -> GatewayError:
    retry_after = max(1, math.ceil(wait))
    return GatewayError(
        429,
        f"Rate limit reached for key '{key.name}' ({what}); retry after {retry_after} s.",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(retry_after)},
    )
