"""The gateway over real HTTP on loopback: the real `openai` client -> gateway -> scripted fake engine(s).

The engines here are a test double (tests/fakes/scripted_upstream.py): made-up tokens on a schedule, with
vLLM-style speculative statistics, scripted failures and delays. The real engine is in tests/integration.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from serving.gateway.app import Gateway
from serving.gateway.auth import KeyStore
from serving.gateway.config import GatewayConfig
from specstack.net import free_port
from tests.fakes.scripted_upstream import Script, ScriptedUpstream
from tests.unit.gateway_helpers import ALICE, BOB, chat, eventually, metric_value, one_model, running_gateway

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------------------------- happy paths
def test_chat_keeps_usage_and_spec_stats_and_sends_request_id(up):
    with running_gateway(one_model(up.url)) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(
            **chat(), extra_headers={"X-Request-Id": "req-123"}
        )
        r = raw.parse()
        assert r.choices[0].message.content == "tok0 tok1 tok2 tok3 tok4 "
        assert r.usage.completion_tokens == 5
        assert r.model_extra["metrics"]["speculative_decoding"]["mean_acceptance_length"] == 2.5
        assert raw.headers["x-request-id"] == "req-123"
        assert up.received[-1].headers["x-request-id"] == "req-123"
        assert "authorization" not in up.received[-1].headers  # the client's key never reaches the engine
        gen = gw.client().chat.completions.with_raw_response.create(**chat())
        assert len(gen.headers["x-request-id"]) == 32  # made up when the client sends none
        assert up.received[-1].headers["x-request-id"] == gen.headers["x-request-id"]


def test_stream_without_usage_drops_the_usage_chunk_but_counts_it(up):
    with running_gateway(one_model(up.url)) as gw:
        chunks = list(gw.client().chat.completions.create(**chat(), stream=True))
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            == "tok0 tok1 tok2 tok3 tok4 "
        )
        assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
        assert up.received[-1].body["stream_options"] == {"include_usage": True}  # always asked upstream
        assert gw.metric("specstack_gateway_completion_tokens_total", key="alice") == 5
        assert gw.metric("specstack_gateway_spec_verify_steps_total", key="alice") == 2
        assert gw.metric("specstack_gateway_time_to_first_token_seconds_count", model="demo") == 1
        assert gw.metric("specstack_gateway_inter_token_latency_seconds_count", model="demo") == 4


def test_stream_with_usage_passes_the_final_chunk_with_spec_metrics(up):
    with running_gateway(one_model(up.url)) as gw:
        chunks = list(
            gw.client().chat.completions.create(**chat(), stream=True, stream_options={"include_usage": True})
        )
        last = chunks[-1]
        assert last.choices == [] and last.usage.completion_tokens == 5
        assert last.model_extra["metrics"]["speculative_decoding"]["num_spec_steps"] == 2


def test_completions_endpoint_and_sglang_meta_info(up):
    up.script.engine = "sglang"
    with running_gateway(one_model(up.url)) as gw:
        c = gw.client()
        r = c.completions.create(model="demo", prompt="раз два три", max_tokens=4)
        assert r.choices[0].text == "tok0 tok1 tok2 tok3 "
        text = "".join(
            ch.choices[0].text for ch in c.completions.create(model="demo", prompt="x", stream=True)
        )
        assert text.startswith("tok0")
        # SGLang: tau = completion_tokens / spec_verify_ct: 4 / 2, then 5 / 2 for the stream
        assert gw.metric("specstack_gateway_spec_acceptance_length_sum", key="alice") == pytest.approx(4.5)
        assert gw.metric("specstack_gateway_spec_acceptance_length_count", key="alice") == 2


def test_models_lists_what_the_key_may_use(up):
    keys = [{"name": "alice", "key": ALICE}, {"name": "bob", "key": BOB, "models": ["other"]}]
    models = {"demo": {"plain": [up.url]}, "other": {"plain": [up.url]}}
    with running_gateway(models, keys) as gw:
        assert sorted(m.id for m in gw.client(ALICE).models.list()) == ["demo", "other"]
        assert [m.id for m in gw.client(BOB).models.list()] == ["other"]
        with pytest.raises(openai.PermissionDeniedError) as e:
            gw.client(BOB).chat.completions.create(**chat())
        assert e.value.body["code"] == "model_not_allowed"


def test_upstream_model_name_and_extra_fields(up):
    with running_gateway(
        one_model(up.url, upstream_model="served/name", request_extra={"return_meta_info": True})
    ) as gw:
        gw.client().chat.completions.create(**chat(temperature=0.5), extra_body={"top_k": 3})
        body = up.received[-1].body
        assert body["model"] == "served/name" and body["return_meta_info"] is True
        assert body["temperature"] == 0.5 and body["top_k"] == 3  # unknown sampling fields pass through


# ---------------------------------------------------------------------------------------------- client errors
def _error(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def test_auth_failures(up):
    with running_gateway(one_model(up.url)) as gw:
        with pytest.raises(openai.AuthenticationError):
            gw.client("sk-wrong-key-000000").chat.completions.create(**chat())
        r = httpx.post(gw.url + "/v1/chat/completions", json=chat())
        assert r.status_code == 401 and _error(r)["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer" and r.headers["x-request-id"]
        r = httpx.get(gw.url + "/v1/models", headers={"Authorization": "Basic " + ALICE})
        assert r.status_code == 401
        with pytest.raises(openai.NotFoundError) as e:
            gw.client().chat.completions.create(**chat(model="nope"))
        assert e.value.body["code"] == "model_not_found"
        assert not up.received  # nothing reached the engine
        assert gw.metric("specstack_gateway_requests_total", status="401", key="-") == 3


def test_validation_errors_are_openai_400s(up):
    with running_gateway(one_model(up.url), limits={"max_tokens": 100, "max_messages": 2}) as gw:
        c = gw.client()
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="demo", messages=[])
        assert e.value.body["param"] == "messages"
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(**chat(max_tokens=101))
        assert e.value.body["param"] == "max_tokens"
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(**chat(temperature=3))
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="demo", messages=[{"role": "user", "content": "x"}] * 3)
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="demo", messages=[{"role": "robot", "content": "x"}])
        auth = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
        r = httpx.post(gw.url + "/v1/chat/completions", content=b"{not json", headers=auth)
        assert r.status_code == 400 and "JSON" in _error(r)["message"]
        r = httpx.post(gw.url + "/v1/chat/completions", content=b"[1, 2]", headers=auth)
        assert r.status_code == 400 and _error(r)["type"] == "invalid_request_error"
        r = httpx.get(gw.url + "/v1/nowhere", headers=auth)
        assert r.status_code == 404 and _error(r)
        r = httpx.get(gw.url + "/v1/chat/completions", headers=auth)
        assert r.status_code == 405 and _error(r)
        assert not up.received


def test_body_size_limit_413_also_for_chunked_bodies(up):
    with running_gateway(one_model(up.url), limits={"max_body_bytes": 2048}) as gw:
        big = json.dumps(chat(messages=[{"role": "user", "content": "x" * 4000}])).encode()
        auth = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
        r = httpx.post(gw.url + "/v1/chat/completions", content=big, headers=auth)
        assert r.status_code == 413 and _error(r)["code"] == "request_too_large"

        def chunked():
            yield big[:1000]
            yield big[1000:]

        r = httpx.post(gw.url + "/v1/chat/completions", content=chunked(), headers=auth)
        assert r.status_code == 413
        assert not up.received


def test_rate_limits_requests_and_tokens(up):
    keys = [
        {"name": "alice", "key": ALICE, "requests_per_second": 0.5, "burst": 2},
        {"name": "bob", "key": BOB, "tokens_per_minute": 6},
    ]
    with running_gateway(one_model(up.url), keys) as gw:
        a = gw.client(ALICE)
        a.chat.completions.create(**chat())
        a.chat.completions.create(**chat())
        with pytest.raises(openai.RateLimitError) as e:
            a.chat.completions.create(**chat())
        assert int(e.value.response.headers["retry-after"]) >= 1
        assert e.value.body["code"] == "rate_limit_exceeded"
        b = gw.client(BOB)
        b.chat.completions.create(**chat())  # 3 prompt + 5 completion tokens: the budget of 6 is overspent
        with pytest.raises(openai.RateLimitError) as e:
            b.chat.completions.create(**chat())
        assert "tokens per minute" in e.value.body["message"]
        assert len(up.received) == 3
        assert gw.metric("specstack_gateway_requests_total", status="429") == 2


# ---------------------------------------------------------------------------------------------- faults
def test_upstream_dies_mid_stream_client_gets_an_error_event(up):
    up.script.kill_after = 2
    with running_gateway(one_model(up.url)) as gw:
        got = []
        with pytest.raises(openai.APIError) as e:
            for c in gw.client().chat.completions.create(**chat(), stream=True):
                got.append(c.choices[0].delta.content)
        assert got == ["", "tok0 ", "tok1 "]
        assert "Stream interrupted" in str(e.value)
        assert httpx.get(gw.url + "/health").status_code == 200
        up.script.kill_after = None
        assert gw.client().chat.completions.create(**chat()).choices[0].message.content
        assert gw.metric("specstack_gateway_requests_total", status="502") == 1
        assert gw.metric("specstack_gateway_upstream_in_flight_requests") == 0


def test_engine_process_killed_mid_stream(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.scripted_upstream", "--port", str(port), "--tokens", "200",
         "--token-delay", "0.02"],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        with running_gateway(one_model(url)) as gw:
            got = 0
            with pytest.raises(openai.APIError):
                for _ in gw.client().chat.completions.create(**chat(), stream=True):
                    got += 1
                    if got == 3:
                        proc.send_signal(signal.SIGKILL)
            assert 3 <= got < 100
            assert httpx.get(gw.url + "/health").status_code == 200
            eventually(lambda: httpx.get(gw.url + "/ready").status_code == 503)  # its only engine is gone
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never became healthy")


def test_one_of_two_upstreams_down_every_request_succeeds(up):
    dead = f"http://127.0.0.1:{free_port()}"
    with running_gateway(one_model(dead, up.url), health={"interval_s": 30, "timeout_s": 0.5}) as gw:
        gw.gateway.replicas[0].healthy = True  # pretend the first health check missed it
        for _ in range(10):
            assert gw.client().chat.completions.create(**chat()).choices[0].message.content
        assert len(up.received) == 10
        assert gw.metric("specstack_gateway_upstream_healthy", upstream=dead) == 0
        assert (
            gw.metric("specstack_gateway_upstream_attempts_total", upstream=dead, outcome="connect_error")
            == 1
        )
        assert httpx.get(gw.url + "/ready").json()["ready"] is True


def test_all_upstreams_down_fails_fast_then_the_breaker_answers_503(up):
    dead = f"http://127.0.0.1:{free_port()}"
    with running_gateway(one_model(dead), breaker={"failure_threshold": 2, "open_s": 60}) as gw:
        auth = {"Authorization": f"Bearer {ALICE}"}
        t = time.monotonic()
        codes = [httpx.post(gw.url + "/v1/chat/completions", json=chat(), headers=auth) for _ in range(3)]
        assert time.monotonic() - t < 2
        assert [r.status_code for r in codes] == [
            502,
            502,
            503,
        ]  # one panic attempt each, then the open breaker
        assert (
            _error(codes[0])["code"] == "upstream_unreachable"
            and _error(codes[2])["code"] == "no_healthy_upstream"
        )
        assert httpx.get(gw.url + "/ready").status_code == 503


def test_failing_health_probes_alone_do_not_refuse_traffic(up):
    up.script.healthy = False  # /health fails (say, too slow under load) but requests are served
    with running_gateway(one_model(up.url)) as gw:
        assert httpx.get(gw.url + "/ready").status_code == 503
        assert gw.client().chat.completions.create(**chat()).choices[0].message.content  # panic mode


def test_slow_upstream_is_a_504(up):
    up.script.ttft_s = 3
    with running_gateway(one_model(up.url), timeouts={"first_byte_s": 0.3, "total_s": 0.6}) as gw:
        c = gw.client()
        t = time.monotonic()
        with pytest.raises(openai.InternalServerError) as e:
            c.chat.completions.create(**chat())
        assert e.value.status_code == 504 and time.monotonic() - t < 2.5
        t = time.monotonic()
        with pytest.raises(openai.InternalServerError) as e:
            list(c.chat.completions.create(**chat(), stream=True))
        assert e.value.status_code == 504 and time.monotonic() - t < 2.5
        assert gw.metric("specstack_gateway_requests_total", status="504") == 2


def test_stream_over_total_time_ends_with_a_timeout_event(up):
    up.script.tokens, up.script.token_delay_s = 50, 0.05
    with running_gateway(one_model(up.url), timeouts={"first_byte_s": 1, "total_s": 0.5}) as gw:
        got = 0
        with pytest.raises(openai.APIError) as e:
            for _ in gw.client().chat.completions.create(**chat(), stream=True):
                got += 1
        assert 2 < got < 20 and "time limit" in str(e.value)


def test_overloaded_upstream_is_retried_elsewhere_or_passed_on():
    busy, ok = ScriptedUpstream(Script(status=503), name="busy"), ScriptedUpstream(Script(), name="ok")
    with busy, ok, running_gateway(one_model(busy.url, ok.url)) as gw:
        for _ in range(4):
            gw.client().chat.completions.create(**chat())
        assert len(ok.received) == 4
        assert gw.metric("specstack_gateway_upstream_attempts_total", outcome="http_503") >= 1
    with (
        ScriptedUpstream(Script(status=429, retry_after="7"), name="a") as a,
        ScriptedUpstream(Script(status=429, retry_after="7"), name="b") as b,
        running_gateway(one_model(a.url, b.url)) as gw,
    ):
        with pytest.raises(openai.RateLimitError) as e:
            gw.client().chat.completions.create(**chat())
        assert e.value.response.headers["retry-after"] == "7"
        assert len(a.received) + len(b.received) == 2  # tried both, then passed the 429 on


def test_circuit_breaker_stops_sending_to_a_failing_replica():
    bad, ok = ScriptedUpstream(Script(status=503), name="bad"), ScriptedUpstream(Script(), name="ok")
    with (
        bad,
        ok,
        running_gateway(one_model(bad.url, ok.url), breaker={"failure_threshold": 2, "open_s": 30}) as gw,
    ):
        for _ in range(10):
            gw.client().chat.completions.create(**chat())
        assert len(bad.received) == 2
        assert gw.metric("specstack_gateway_upstream_circuit_open", upstream=bad.url) == 1


def test_health_checks_take_a_replica_out_and_back(up):
    with ScriptedUpstream(Script(), name="b") as b, running_gateway(one_model(up.url, b.url)) as gw:
        b.script.healthy = False
        eventually(lambda: gw.metric("specstack_gateway_upstream_healthy", upstream=b.url) == 0)
        for _ in range(4):
            gw.client().chat.completions.create(**chat())
        assert len(b.received) == 0 and len(up.received) == 4
        b.script.healthy = True
        eventually(lambda: gw.metric("specstack_gateway_upstream_healthy", upstream=b.url) == 1)


def test_client_disconnect_cancels_the_engine_request(up):
    up.script.tokens, up.script.token_delay_s = 100, 0.05
    with running_gateway(one_model(up.url)) as gw:
        stream = gw.client().chat.completions.create(**chat(), stream=True)
        next(iter(stream))
        stream.close()
        eventually(lambda: up.cancelled == 1)
        up.script.tokens, up.script.token_delay_s, up.script.ttft_s = 1, 0, 3
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(gw.url + "/v1/chat/completions", json=chat(), timeout=0.3,
                       headers={"Authorization": f"Bearer {ALICE}"})  # fmt: skip
        eventually(lambda: up.cancelled == 2)
        eventually(lambda: gw.metric("specstack_gateway_requests_total", status="499") == 2)
        assert gw.metric("specstack_gateway_in_flight_requests") == 0
        # a client leaving is not the engine's fault: nothing counts against its circuit breaker
        assert gw.metric("specstack_gateway_upstream_attempts_total", outcome="cancelled") == 2
        assert gw.metric("specstack_gateway_upstream_attempts_total", outcome="error") == 0


def test_shutdown_drains_open_streams(up):
    up.script.tokens, up.script.token_delay_s = 20, 0.05
    with running_gateway(one_model(up.url)) as gw:
        stream = gw.client().chat.completions.create(**chat(), stream=True)
        it = iter(stream)
        next(it)
        stopper = threading.Thread(target=lambda: setattr(gw.server, "should_exit", True))
        stopper.start()
        rest = list(it)
        stopper.join()
        assert "".join(c.choices[0].delta.content or "" for c in rest).count("tok") == 20
        eventually(lambda: not gw.server.started or gw.gateway.draining)
        with pytest.raises(httpx.ConnectError):
            eventually(lambda: httpx.get(gw.url + "/health", timeout=0.5) and False, timeout=2)


# ---------------------------------------------------------------------------------------------- routing, metrics
def test_load_aware_routing_splits_by_threshold():
    with (
        ScriptedUpstream(Script(ttft_s=0.5), name="spec") as spec,
        ScriptedUpstream(Script(ttft_s=0.5), name="plain") as plain,
    ):
        models = {"demo": {"speculative": [spec.url], "plain": [plain.url], "spec_inflight_threshold": 2}}
        with running_gateway(models, health={"interval_s": 60}) as gw:  # no probe may interfere
            pools = []
            lock = threading.Lock()

            def one() -> None:
                raw = gw.client().chat.completions.with_raw_response.create(**chat())
                with lock:
                    pools.append(raw.headers["x-specstack-pool"])

            threads = [threading.Thread(target=one) for _ in range(6)]
            for t in threads:
                t.start()
                time.sleep(0.03)
            for t in threads:
                t.join()
            assert sorted(pools) == ["plain"] * 4 + ["speculative"] * 2
            assert len(spec.received) == 2 and len(plain.received) == 4
            text = gw.metrics_text()
            name = "specstack_gateway_routing_decisions_total"
            assert metric_value(text, name, pool="speculative", reason="under_threshold") == 2
            assert metric_value(text, name, pool="plain", reason="over_threshold") == 4
            gw.client().chat.completions.create(**chat())  # idle again: back to speculation
            assert len(spec.received) == 3


def test_a_burst_arriving_together_still_splits_by_threshold():
    """Requests that reach the gateway in the same event-loop step: each routing decision must see the
    requests decided before it in flight, or the whole burst goes to an 'idle' speculative pool."""
    with (
        ScriptedUpstream(Script(ttft_s=0.5), name="spec") as spec,
        ScriptedUpstream(Script(ttft_s=0.5), name="plain") as plain,
    ):
        models = {"demo": {"speculative": [spec.url], "plain": [plain.url], "spec_inflight_threshold": 2}}
        cfg = GatewayConfig.model_validate({"port": free_port(), "models": models})
        body = json.dumps(chat()).encode()

        async def burst() -> list[str]:
            gw = Gateway(cfg, KeyStore.from_entries([], cfg.default_limits))
            await gw.start()
            try:
                assert gw.forwarder is not None
                sends = [gw.forwarder.send(gw.routers["demo"], "/v1/chat/completions", body,
                                           {"content-type": "application/json"}, stream=False,
                                           start=asyncio.get_running_loop().time()) for _ in range(6)]  # fmt: skip
                return [opened.replica.pool for opened in await asyncio.gather(*sends)]
            finally:
                await gw.stop()

        pools = asyncio.run(burst())
    assert sorted(pools) == ["plain"] * 4 + ["speculative"] * 2
    assert len(spec.received) == 2 and len(plain.received) == 4


def test_tau_per_key_in_metrics_and_promtool_accepts_them(up):
    with running_gateway(one_model(up.url)) as gw:
        gw.client(ALICE).chat.completions.create(**chat())
        up.script.accepted = 6  # tau = 1 + 6/2 = 4
        list(gw.client(BOB).chat.completions.create(**chat(), stream=True))
        text = gw.metrics_text()
        tau = "specstack_gateway_spec_acceptance_length"
        assert metric_value(text, tau + "_sum", key="alice", model="demo") == 2.5
        assert metric_value(text, tau + "_sum", key="bob", model="demo") == 4.0
        assert metric_value(text, tau + "_count", key="bob") == 1
        assert metric_value(text, "specstack_gateway_spec_accepted_tokens_total", key="bob") == 6
        assert metric_value(text, "specstack_gateway_spec_draft_tokens_total", key="alice") == 6
        promtool = os.environ.get("PROMTOOL") or _which("promtool")
        if promtool is None:
            (pytest.fail if os.environ.get("CI") else pytest.skip)(
                "PROMTOOL MISSING: `promtool check metrics` was NOT run. Install Debian's prometheus package, or "
                "without installing: apt-get download prometheus && dpkg-deb -x prometheus_*.deb DIR, then "
                "PROMTOOL=DIR/usr/bin/promtool"
            )
        out = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stdout + out.stderr


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name)
