"""The gateway's parts in isolation: keys, token buckets, breaker, routing, spec statistics, SSE relay, config."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import pytest

from serving.gateway.auth import KeyStore, parse_keys_env, read_keys_file
from serving.gateway.config import CircuitBreaker, GatewayConfig, ModelRoute, RateLimits
from serving.gateway.errors import GatewayError, normalize_upstream_error
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.ratelimit import FailedAuthLimiter, LocalBuckets, RateLimiter, TokenBucket
from serving.gateway.routing import Router
from serving.gateway.specstats import spec_stats, usage_of
from serving.gateway.streaming import SSERelay
from serving.gateway.upstreams import PLAIN, SPECULATIVE, Breaker, Pool, Replica
from specstack.configbase import validate
from specstack.errors import SpecstackError

NO_LIMITS = RateLimits()


# ---------------------------------------------------------------------------------------------- keys
def test_keys_file_yaml_with_plain_and_hashed_keys(tmp_path):
    secret2 = "sk-second-key-123"
    f = tmp_path / "keys.yaml"
    f.write_text(
        "keys:\n"
        "  - {name: a, key: sk-first-key-123, models: [demo], requests_per_second: 2}\n"
        f"  - {{name: b, sha256: {hashlib.sha256(secret2.encode()).hexdigest()}}}\n"
    )
    default = RateLimits(tokens_per_minute=1000)
    a, b = read_keys_file(f, default)
    assert a.may_use("demo") and not a.may_use("other") and b.may_use("other")
    assert a.limits.requests_per_second == 2 and a.limits.tokens_per_minute == 1000  # unset limits inherit
    assert b.limits == default
    store = KeyStore([a, b], default)
    assert store.authenticate("Bearer sk-first-key-123").name == "a"
    assert store.authenticate(f"bearer {secret2}").name == "b"
    assert "sk-first-key-123" not in repr(a)


@pytest.mark.parametrize(
    "header", [None, "", "Bearer nope-nope-nope", "Basic sk-first-key-123", "sk-first-key-123"]
)
def test_bad_credentials_are_401(header):
    store = KeyStore.from_entries([{"name": "a", "key": "sk-first-key-123"}], NO_LIMITS)
    with pytest.raises(GatewayError) as e:
        store.authenticate(header)
    assert e.value.status == 401 and e.value.code == "invalid_api_key"


def test_keys_file_errors_are_one_line(tmp_path):
    f = tmp_path / "keys.yaml"
    f.write_text("keys:\n  - {name: a}\n")
    with pytest.raises(SpecstackError, match="exactly one of 'key' and 'sha256'"):
        read_keys_file(f, NO_LIMITS)
    f.write_text("keys:\n  - {name: a, key: sk-aaaaaaaaa, colour: red}\n")
    with pytest.raises(SpecstackError, match="colour: unknown key"):
        read_keys_file(f, NO_LIMITS)
    with pytest.raises(SpecstackError, match="no such"):
        read_keys_file(tmp_path / "missing.json", NO_LIMITS)
    with pytest.raises(SpecstackError, match="duplicate"):
        KeyStore.from_entries(
            [{"name": "a", "key": "sk-11111111"}, {"name": "a", "key": "sk-22222222"}], NO_LIMITS
        )


def test_keys_from_env_and_open_gateway_warns(caplog):
    keys = parse_keys_env("team=sk-team-1, sk-bare-2,", NO_LIMITS)
    assert [k.name for k in keys] == ["team", "env-2"]
    cfg = GatewayConfig(api_keys_env="MY_KEYS")
    store = KeyStore.from_config(cfg, {"MY_KEYS": "x=sk-env-key-1"})
    assert store.authenticate("Bearer sk-env-key-1").name == "x"
    with caplog.at_level(logging.WARNING, logger="specstack.gateway"):
        open_store = KeyStore.from_config(cfg, {})
    assert open_store.open and open_store.authenticate(None).name == "anonymous"
    assert "accepts every request" in caplog.text
    assert "sk-env-key-1" not in caplog.text


# ---------------------------------------------------------------------------------------------- limits
class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_refills_and_reports_waits():
    b = TokenBucket(rate=2.0, capacity=2, now=0.0)
    assert b.take(0.0) == 0 and b.take(0.0) == 0
    assert b.take(0.0) == pytest.approx(0.5)
    assert b.take(0.5) == 0
    b.charge(0.5, 10)
    assert b.wait_positive(0.5) == pytest.approx(5.0, abs=0.01)


def test_rate_limiter_requests_and_tokens_with_retry_after():
    asyncio.run(_rate_limiter_scenario())


async def _rate_limiter_scenario() -> None:
    clock = Clock()
    limiter = RateLimiter(LocalBuckets(clock))
    store = KeyStore.from_entries(
        [{"name": "a", "key": "sk-aaaaaaaa", "requests_per_second": 1, "burst": 2, "tokens_per_minute": 60}],
        NO_LIMITS,
    )
    key = store.keys[0]
    await limiter.admit(key)
    await limiter.admit(key)
    with pytest.raises(GatewayError) as e:
        await limiter.admit(key)
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "1"
    clock.t += 1
    await limiter.admit(key)
    reserved = await limiter.reserve_tokens(key, prompt_chars=30, max_tokens=20)  # 10 prompt + 20 completion
    assert reserved == 30
    with pytest.raises(GatewayError) as e:  # 30 left: a second reservation of 40 does not fit
        await limiter.reserve_tokens(key, prompt_chars=60, max_tokens=20)
    assert e.value.headers["Retry-After"] == "10"
    await limiter.settle_tokens(
        key, reserved, 180
    )  # it used far more: 60 - 180 = -120, refilling at 1 token/s
    clock.t += 10
    with pytest.raises(GatewayError) as e:
        await limiter.admit(key)
    assert e.value.headers["Retry-After"] == "111" and "tokens per minute" in e.value.message
    clock.t += 200
    assert (
        await limiter.reserve_tokens(key, prompt_chars=3, max_tokens=None) == 60
    )  # no max_tokens: the whole budget
    await limiter.settle_tokens(key, 60, 5)  # refunded down to its real use
    assert await limiter.reserve_tokens(key, prompt_chars=3, max_tokens=50) == 51
    with pytest.raises(GatewayError) as e:
        await limiter.reserve_tokens(key, prompt_chars=3, max_tokens=100)
    assert e.value.code == "request_exceeds_token_budget" and "Retry-After" not in e.value.headers
    anonymous = KeyStore([], NO_LIMITS).anonymous
    for _ in range(1000):
        await limiter.admit(anonymous)  # no limits: never refused


def test_failed_auth_limiter_locks_an_address_then_forgets_it():
    clock = Clock()
    guard = FailedAuthLimiter(per_minute=2, clock=clock)
    guard.check("10.0.0.1")
    guard.failed("10.0.0.1")
    guard.failed("10.0.0.1")
    with pytest.raises(GatewayError) as e:
        guard.check("10.0.0.1")
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "30"
    guard.check("10.0.0.2")  # other addresses are not affected
    clock.t += 30
    guard.check("10.0.0.1")
    clock.t += 60
    guard.check("10.0.0.1")
    assert not guard._buckets  # refilled addresses are dropped


# ---------------------------------------------------------------------------------------------- breaker, pools, routing
def test_breaker_opens_half_opens_and_closes():
    from serving.gateway.config import CircuitBreaker

    b = Breaker(CircuitBreaker(failure_threshold=2, open_s=5))
    b.on_failure(0)
    assert b.allows(0)
    b.on_failure(0)
    assert b.state == "open" and not b.allows(4.9)
    assert b.allows(5.0) and b.state == "half_open"
    b.on_dispatch()
    assert not b.allows(5.0)  # one trial at a time
    b.on_failure(5.0)
    assert b.state == "open" and not b.allows(9.9)
    assert b.allows(10.0)
    b.on_dispatch()
    b.on_success()
    assert b.state == "closed" and b.allows(10.0)


def _pool(name: str, n: int, m: GatewayMetrics) -> Pool:
    from serving.gateway.config import CircuitBreaker

    return Pool(
        name, [Replica(f"http://127.0.0.1:{9000 + i}", "demo", name, CircuitBreaker(), m) for i in range(n)]
    )


def test_least_outstanding_choice_skips_unhealthy_and_excluded():
    m = GatewayMetrics()
    pool = _pool(PLAIN, 3, m)
    a, b, c = pool.replicas
    a.outstanding, b.outstanding, c.outstanding = 3, 1, 2
    assert pool.pick(0) is b
    b.set_healthy(False)
    assert pool.pick(0) is c
    assert pool.pick(0, exclude=[c]) is a
    c.outstanding = a.outstanding = 0
    assert {pool.pick(0) for _ in range(10)} == {a, c}  # ties rotate


def test_router_threshold_and_fallbacks():
    m = GatewayMetrics()
    spec, plain = _pool(SPECULATIVE, 1, m), _pool(PLAIN, 1, m)
    router = Router("demo", ModelRoute(speculative=["http://x"], spec_inflight_threshold=2), spec, plain, m)
    assert router.plan(0).pool == SPECULATIVE
    spec.replicas[0].outstanding = 2
    p = router.plan(0)
    assert (p.pool, p.reason, p.pools) == (PLAIN, "over_threshold", (plain, spec))
    plain.replicas[0].set_healthy(False)
    assert router.plan(0).reason == "plain_unavailable"
    spec.replicas[0].set_healthy(False)
    plain.replicas[0].set_healthy(True)
    assert router.plan(0).reason == "speculative_unavailable"
    only = Router("demo", ModelRoute(plain=["http://x"]), None, plain, m)
    assert only.plan(0).reason == "only_pool"
    text = m.render().decode()
    assert (
        'specstack_gateway_routing_decisions_total{model="demo",pool="plain",reason="over_threshold"} 1.0'
        in text
    )


# ---------------------------------------------------------------------------------------------- spec stats
def test_spec_stats_from_vllm_and_sglang():
    vllm = {"metrics": {"speculative_decoding": {"mean_acceptance_length": 2.5, "num_spec_steps": 4,
                                                 "num_draft_tokens": 12, "num_accepted_draft_tokens": 6}}}  # fmt: skip
    s = spec_stats(vllm)
    assert (s.verify_steps, s.draft_tokens, s.accepted_tokens, s.acceptance_length, s.engine) == (
        4,
        12,
        6,
        2.5,
        "vllm",
    )
    meta = {
        "completion_tokens": 9,
        "spec_verify_ct": 3,
        "spec_accept_token_num": 6,
        "spec_draft_token_num": 9,
    }
    s = spec_stats({"meta_info": meta})
    assert (s.acceptance_length, s.accepted_tokens, s.engine) == (3.0, 6, "sglang")
    s = spec_stats({"choices": [{"meta_info": meta}, {"meta_info": meta}]})
    assert s.verify_steps == 6 and s.acceptance_length == 3.0
    s = spec_stats(
        {"meta_info": {"completion_tokens": 8, "spec_verify_ct": 4}}
    )  # old SGLang: no accept count
    assert s.accepted_tokens == 4 and s.acceptance_length == 2.0
    details = {"spec_verify_ct": 5, "spec_num_correct_drafts": 5, "spec_num_proposed_drafts": 15,
               "spec_accept_length": 2.0}  # fmt: skip
    s = spec_stats({"sglext": {"spec_tokens_details": details}})
    assert (s.draft_tokens, s.acceptance_length) == (15, 2.0)
    assert spec_stats({"choices": [{"message": {}}]}) is None
    assert spec_stats({"metrics": {"speculative_decoding": {"num_spec_steps": 0}}}) is None
    assert usage_of({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}).total == 7
    assert usage_of({"usage": None}) is None


# ---------------------------------------------------------------------------------------------- SSE relay
async def _aiter(parts):
    for p in parts:
        yield p


def _relay(parts: list[bytes], include_usage: bool, deadline: float = 1e12) -> tuple[bytes, SSERelay]:
    async def run() -> tuple[bytes, SSERelay]:
        relay = SSERelay(parts[0], _aiter(parts[1:]), include_usage=include_usage, deadline=deadline)
        return b"".join([b async for b in relay.__aiter__()]), relay

    return asyncio.run(run())


def _ev(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


CHUNK = _ev({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
USAGE = _ev({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1},
             "metrics": {"speculative_decoding": {"num_spec_steps": 1, "num_accepted_draft_tokens": 0}}})  # fmt: skip
DONE = b"data: [DONE]\n\n"


def test_relay_splits_events_across_reads_and_drops_usage_when_not_asked():
    stream = CHUNK + CHUNK + USAGE + DONE
    parts = [stream[:7], stream[7:50], stream[50:51], stream[51:]]
    out, relay = _relay(parts, include_usage=False)
    assert out == CHUNK + CHUNK + DONE
    assert relay.tally.usage.completion_tokens == 1 and relay.tally.spec.acceptance_length == 1.0
    assert relay.finished and not relay.broken
    out, _ = _relay([stream], include_usage=True)
    assert out == stream
    crlf = stream.replace(b"\n", b"\r\n")
    out, _ = _relay([crlf], include_usage=True)
    assert out == stream


def test_relay_turns_a_cut_stream_into_an_error_event():
    out, relay = _relay([CHUNK, CHUNK], include_usage=False)
    assert out.startswith(CHUNK + CHUNK)
    events = [e for e in out.split(b"\n\n") if e]
    err = json.loads(events[-2][len(b"data: ") :])["error"]
    assert err["code"] == 502 and set(err) == {"message", "type", "param", "code"}
    assert events[-1] == b"data: [DONE]" and relay.broken


# ---------------------------------------------------------------------------------------------- config, errors
def test_config_rejects_bad_routes_by_name():
    with pytest.raises(
        SpecstackError, match=r"models\.demo: Value error, a model needs at least one upstream"
    ):
        validate(GatewayConfig, {"models": {"demo": {}}}, "run.yaml")
    with pytest.raises(SpecstackError, match="not an http"):
        validate(GatewayConfig, {"models": {"demo": {"plain": ["localhost:8000"]}}}, "run.yaml")
    with pytest.raises(SpecstackError, match=r"models\.demo\.pools: unknown key"):
        validate(GatewayConfig, {"models": {"demo": {"plain": ["http://a"], "pools": 1}}}, "run.yaml")
    cfg = validate(GatewayConfig, {"models": {"demo": {"plain": ["http://a:1/"]}}}, "run.yaml")
    assert cfg.models["demo"].plain == ["http://a:1"]


def test_upstream_errors_become_openai_errors():
    ok = b'{"error": {"message": "m", "type": "t", "param": null, "code": 400}}'
    assert normalize_upstream_error(400, ok) == ok
    old = json.loads(
        normalize_upstream_error(400, b'{"object": "error", "message": "bad", "type": "BadRequest"}')
    )
    assert old == {"error": {"message": "bad", "type": "BadRequest", "param": None, "code": None}}
    text = json.loads(normalize_upstream_error(502, b"<html>bad gateway</html>"))
    assert text["error"]["type"] == "upstream_error" and "bad gateway" in text["error"]["message"]


def test_discovery_keeps_known_replicas_adds_new_and_retires_gone_ones():
    m = GatewayMetrics()
    make = lambda url, i: Replica(url, "demo", "plain", CircuitBreaker(), m, i)  # noqa: E731
    pool = Pool("plain", [], model="demo")
    assert pool.pick(0.0) is None  # an empty pool (nothing discovered yet) picks nothing
    pool.set_members(["http://10.0.0.1:8000", "http://10.0.0.2:8000"], make)
    first = pool.replicas[0]
    first.acquire()
    pool.set_members(["http://10.0.0.1:8000", "http://10.0.0.3:8000"], make)
    assert pool.replicas[0] is first and first.outstanding == 1  # state kept across refreshes
    assert [r.url for r in pool.replicas] == ["http://10.0.0.1:8000", "http://10.0.0.3:8000"]
    text = m.render().decode()
    assert 'upstream="http://10.0.0.3:8000"' in text and 'upstream="http://10.0.0.2:8000"' not in text
