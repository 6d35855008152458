"""Rate limits shared by every gateway replica: the token buckets live in Redis, updated by one Lua script.

The chart runs 3-12 gateway replicas; with buckets in each process every key would get that many times its
limits. Here each bucket is a Redis hash (`level`, `stamp`) that one script refills and takes from
atomically, on Redis's clock, so all replicas see one budget (LiteLLM shares its limits through Redis the
same way). Each bucket expires once it would be full again.

If Redis cannot be reached (or answers slower than `timeout_s`), the gateway fails open to its own
in-process buckets: every key keeps a limit, only per replica again, as without Redis; it retries Redis
after `retry_s`. Failing closed would turn a Redis outage into an outage of the whole API. Each fallback is
counted in `specstack_gateway_ratelimit_store_errors_total` and logged once per outage.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from serving.gateway.config import SharedLimits
from serving.gateway.ratelimit import LocalBuckets

log = logging.getLogger("specstack.gateway")

# KEYS[1]: the bucket; ARGV: rate per second, capacity, op (take | positive | charge), amount. Returns the wait
# in seconds as a string (Redis would truncate a Lua number to an integer).
BUCKET_SCRIPT = """
local level = tonumber(redis.call('HGET', KEYS[1], 'level'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp'))
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, capacity, op, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if level == nil then
  level, stamp = capacity, now
end
if now > stamp then
  level = math.min(capacity, level + (now - stamp) * rate)
  stamp = now
end
local wait = 0
if op == 'take' then
  if level >= amount then level = level - amount else wait = (amount - level) / rate end
elseif op == 'positive' then
  if level <= 0 then wait = -level / rate + 0.001 end
else
  level = level - amount
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'stamp', tostring(stamp))
redis.call('EXPIRE', KEYS[1], math.ceil((capacity - math.min(level, 0)) / rate) + 1)
return tostring(wait)
"""


class RedisBuckets:
    """A `ratelimit.BucketStore` in Redis, failing open to in-process buckets while Redis is away."""

    def __init__(self, cfg: SharedLimits, on_error: object = None) -> None:
        self.cfg = cfg
        # one immediate retry on a connection error: a pooled connection goes stale when Redis restarts
        self.redis = aioredis.Redis.from_url(
            cfg.redis_url,
            socket_timeout=cfg.timeout_s,
            socket_connect_timeout=cfg.timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self.script = self.redis.register_script(BUCKET_SCRIPT)
        self.fallback = LocalBuckets()
        self._on_error = on_error
        self._down_until = 0.0

    async def apply(self, name: str, rate: float, capacity: float, op: str, amount: float = 0.0) -> float:
        if time.monotonic() >= self._down_until:
            try:
                wait = await self.script(
                    keys=[f"{self.cfg.key_prefix}:{name}"], args=[rate, capacity, op, amount]
                )
            except (RedisError, OSError, TimeoutError) as e:
                self._fail(e)
            else:
                if self._down_until:
                    log.warning("rate limits: Redis is back; limits are shared again")
                    self._down_until = 0.0
                return float(wait)
        return await self.fallback.apply(name, rate, capacity, op, amount)

    def _fail(self, error: BaseException) -> None:
        if self._on_error is not None:
            self._on_error()  # type: ignore[operator]
        if not self._down_until:
            log.warning("rate limits: Redis unreachable (%s); using this replica's own limits, retrying every "
                        "%g s", type(error).__name__, self.cfg.retry_s)  # fmt: skip
        self._down_until = time.monotonic() + self.cfg.retry_s

    async def close(self) -> None:
        await self.redis.aclose()
