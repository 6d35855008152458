"""Per-key rate limits as token buckets: requests per second (with a burst) and tokens per minute; and a
per-address budget of failed API-key checks.

The request bucket is taken from when a request is admitted. The token bucket cannot know a request's
cost in advance, so a request reserves its most likely ceiling before it is sent (its prompt estimated at
`PROMPT_CHARS_PER_TOKEN` characters a token, plus its max_tokens) and is settled to its real usage
(prompt + completion tokens) when it ends: concurrent requests cannot spend more than the budget, and a
key is never locked out for longer than one budget's refill. Refusals raise GatewayError(429) with
Retry-After in whole seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from serving.gateway.auth import ApiKey
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

    def wait_for(self, now: float, amount: float) -> float:
        """0.0 while the bucket holds `amount`, else the seconds until it will (nothing taken)."""
        self._refill(now)
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def wait_positive(self, now: float) -> float:
        """0.0 while the level is positive, else the seconds until it is."""
        self._refill(now)
        if self.level > 0:
            return 0.0
        return (-self.level) / self.rate + 1e-3

    def charge(self, now: float, amount: float) -> None:
        self._refill(now)
        self.level -= amount


# Characters a prompt token covers at least, for reservations: English runs ~4, Russian on an English-centric
# vocabulary ~1.3 (the demo's base); 3 over-reserves English a little and under-reserves such Russian, which
# the settlement then charges.
PROMPT_CHARS_PER_TOKEN = 3


class BucketStore(Protocol):
    async def apply(self, name: str, rate: float, capacity: float, op: str, amount: float = 0.0) -> float: ...


class LocalBuckets:
    """Token buckets in this process's memory, by name (the single-replica default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    async def apply(self, name: str, rate: float, capacity: float, op: str, amount: float = 0.0) -> float:
        """`op` on bucket `name`: 'take' `amount` (or the wait until it could), 'positive' (the wait until the
        level is positive) or 'charge' `amount` (may go negative; a negative amount refunds). Returns a wait."""
        now = self._clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = TokenBucket(rate, capacity, now)
        if op == "take":
            return bucket.take(now, amount)
        if op == "positive":
            return bucket.wait_positive(now)
        bucket.charge(now, amount)
        return 0.0


class RateLimiter:
    """Each key's request and token buckets, in a store: `LocalBuckets`, or `sharedlimits.RedisBuckets` to
    share them between gateway replicas."""

    def __init__(self, store: BucketStore | None = None) -> None:
        self.store = store if store is not None else LocalBuckets()

    async def admit(self, key: ApiKey) -> None:
        """Take one request from the key's budget or raise GatewayError(429) with Retry-After; a key whose
        token budget is spent is refused here too, before its body is read."""
        lim = key.limits
        if lim.tokens_per_minute is not None:
            wait = await self.store.apply(*_tokens(key), "positive")
            if wait > 0:
                raise _too_many(key, "tokens per minute", wait)
        if lim.requests_per_second is not None:
            burst = lim.burst or max(1, math.ceil(lim.requests_per_second))
            wait = await self.store.apply(f"{key.name}:requests", lim.requests_per_second, burst, "take", 1)
            if wait > 0:
                raise _too_many(key, "requests per second", wait)

    async def reserve_tokens(self, key: ApiKey, prompt_chars: int, max_tokens: int | None) -> int:
        """Reserve a request's token ceiling from the key's budget (returned, for `settle_tokens`) or raise 429.
        Without max_tokens the ceiling is the whole budget: such a request waits for a full bucket."""
        budget = key.limits.tokens_per_minute
        if budget is None:
            return 0
        ceiling = math.ceil(prompt_chars / PROMPT_CHARS_PER_TOKEN) + (max_tokens or 0)
        if max_tokens is None:
            ceiling = max(ceiling, budget)
        elif ceiling > budget:
            raise GatewayError(
                429,
                f"This request may use {ceiling} tokens, more than this key's budget of "
                f"{budget} tokens per minute; ask for fewer max_tokens.",
                code="request_exceeds_token_budget",
            )
        ceiling = min(ceiling, budget)
        wait = await self.store.apply(*_tokens(key), "take", ceiling)
        if wait > 0:
            raise _too_many(key, "tokens per minute", wait)
        return ceiling

    async def settle_tokens(self, key: ApiKey, reserved: int, used: int) -> None:
        """A finished request's real usage replaces its reservation (the difference is charged or refunded)."""
        if key.limits.tokens_per_minute is not None and used != reserved:
            await self.store.apply(*_tokens(key), "charge", used - reserved)


def _tokens(key: ApiKey) -> tuple[str, float, float]:
    budget = key.limits.tokens_per_minute or 0
    return f"{key.name}:tokens", budget / 60.0, float(budget)


class FailedAuthLimiter:
    """Failed API-key checks per client address: `per_minute` of them, then 429 until the budget refills.
    Addresses are forgotten once their bucket is full again, so the table stays small."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, address: str) -> None:
        """Raise 429 while `address` has no failed checks left."""
        bucket = self._buckets.get(address)
        if bucket is None:
            return
        wait = bucket.wait_for(self._clock(), 1.0)
        if bucket.level >= bucket.capacity:
            del self._buckets[address]
        elif wait > 0:
            raise _retry_later(
                "Too many failed API key checks from this address", "too_many_failed_auth", wait
            )

    def failed(self, address: str) -> None:
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(
                self.per_minute / 60.0, self.per_minute, self._clock()
            )
        bucket.charge(self._clock(), 1)


def _too_many(key: ApiKey, what: str, wait: float) -> GatewayError:
    return _retry_later(f"Rate limit reached for key '{key.name}' ({what})", "rate_limit_exceeded", wait)


def _retry_later(reason: str, code: str, wait: float) -> GatewayError:
    """429 with Retry-After: `wait` seconds rounded up to whole ones (at least 1)."""
    retry_after = max(1, math.ceil(wait))
    return GatewayError(
        429, f"{reason}; retry after {retry_after} s.", code=code, headers={"Retry-After": str(retry_after)}
    )
