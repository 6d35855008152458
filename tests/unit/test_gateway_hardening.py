"""Regression tests for the defects an outside probe found in the gateway (issue #12/#17), over real HTTP.

Each test drives a real gateway (uvicorn on loopback) in front of scripted fake engines (a test double:
tests/fakes/scripted_upstream.py) and names the defect it pins by its number in the issue.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.fakes.scripted_upstream import Script, ScriptedUpstream
from tests.unit.gateway_helpers import ALICE, chat, eventually, one_model, running_gateway

pytestmark = pytest.mark.timeout(60)
AUTH = {"Authorization": f"Bearer {ALICE}", "content-type": "application/json"}


def post(gw, body: bytes | dict, path: str = "/v1/chat/completions", **kw) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        gw.url + path, content=data, headers={**AUTH, **kw.pop("headers", {})}, timeout=20, **kw
    )


def error_of(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


# ------------------------------------------------------------------------------- 1. lone surrogates
@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"demo","messages":[{"role":"user","content":"a\\ud800b"}]}',
        b'{"model":"demo","stream":true,"messages":[{"role":"user","content":"a\\udfffb"}]}',
        b'{"model":"demo","messages":[{"role":"user","content":"hi"}],"x_unknown":"\\ud83d"}',
    ],
)
def test_lone_surrogate_is_a_400_not_a_500(up, body):
    with running_gateway(one_model(up.url)) as gw:
        r = post(gw, body)
        assert r.status_code == 400, r.text
        assert error_of(r)["code"] == "invalid_unicode"
        r = post(gw, b'{"model":"demo","prompt":"\\ud800"}', path="/v1/completions")
        assert r.status_code == 400 and error_of(r)["code"] == "invalid_unicode"
        assert not up.received  # nothing reached the engine


# ------------------------------------------------------------------------------- 2. total_s is not a failure
def test_the_gateways_own_time_limit_does_not_open_the_breaker(up):
    up.script.tokens, up.script.token_delay_s = 100, 0.02
    with running_gateway(one_model(up.url), timeouts={"total_s": 0.3},
                         breaker={"failure_threshold": 2, "open_s": 60}) as gw:  # fmt: skip
        for _ in range(4):
            with pytest.raises(openai.APIError, match="time limit"):
                list(gw.client().chat.completions.create(**chat(), stream=True))
        assert gw.metric("specstack_gateway_upstream_circuit_open") == 0
        assert gw.metric("specstack_gateway_upstream_attempts_total", outcome="deadline") == 4
        assert httpx.get(gw.url + "/ready").status_code == 200
        up.script.tokens, up.script.token_delay_s = 3, 0
        assert gw.client().chat.completions.create(**chat()).choices[0].message.content


# ------------------------------------------------------------------------------- 3. half-open breaker
def test_a_half_open_breaker_closes_on_its_trials_first_byte_and_503s_say_when(up):
    up.script.status = 503
    with running_gateway(one_model(up.url), breaker={"failure_threshold": 1, "open_s": 0.5}) as gw:
        assert post(gw, chat()).status_code == 503  # the engine's own 503: the circuit opens
        refused = post(gw, chat())
        assert refused.status_code == 503 and error_of(refused)["code"] == "no_healthy_upstream"
        assert 1 <= int(refused.headers["retry-after"]) <= 1  # the circuit half-opens within a second
        up.script.status, up.script.tokens, up.script.token_delay_s = None, 60, 0.05  # a 3 s generation
        time.sleep(0.6)
        trial = gw.client().chat.completions.create(**chat(), stream=True)
        next(iter(trial))  # the trial's first event: the engine is back
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: post(gw, chat(max_tokens=2)).status_code, range(6)))
        trial.close()
        assert codes == [200] * 6


# ------------------------------------------------------------------------------- 4. bad engine answers
@pytest.mark.parametrize("raw", [b"\xff\xfe garbage", b"", b"[1, 2]"])
def test_an_engine_answer_that_is_not_a_completion_is_a_502_and_a_failure(raw):
    bad = ScriptedUpstream(Script(raw_body=raw), name="bad")
    ok = ScriptedUpstream(Script(), name="ok")
    with bad, ok:
        with running_gateway(
            one_model(bad.url, ok.url), breaker={"failure_threshold": 2, "open_s": 60}
        ) as gw:
            for _ in range(10):  # every request ends well: the bad answer is retried on the other replica
                assert gw.client().chat.completions.create(**chat()).choices[0].message.content
            assert len(bad.received) == 2  # then its circuit opened
            assert gw.metric("specstack_gateway_upstream_attempts_total", outcome="bad_response") == 2
        with running_gateway(one_model(bad.url)) as gw:
            with pytest.raises(openai.APIStatusError) as e:
                gw.client().chat.completions.create(**chat())
            assert e.value.status_code == 502 and e.value.code == "upstream_bad_response"


def test_garbage_mid_stream_ends_the_stream_with_an_error_event(up):
    up.script.tokens, up.script.garbage_after = 10, 3
    with running_gateway(one_model(up.url)) as gw:
        got = []
        with pytest.raises(openai.APIError, match="not a server-sent JSON event"):
            for c in gw.client().chat.completions.create(**chat(), stream=True):
                got.append(c)
        assert 3 <= len(got) <= 4
        assert gw.metric("specstack_gateway_upstream_attempts_total", outcome="bad_response") == 1


def test_an_engines_401_is_not_passed_on_as_the_clients_auth_error(up):
    up.script.status = 401
    with running_gateway(one_model(up.url)) as gw:
        with pytest.raises(openai.APIStatusError) as e:
            gw.client().chat.completions.create(**chat())
        assert e.value.status_code == 502 and e.value.code == "upstream_auth_failed"
        assert "API key" in e.value.message and "gateway" in e.value.message


# ------------------------------------------------------------------------------- 5. tokens per minute
def test_concurrent_requests_do_not_overspend_the_token_budget(up):
    up.script.tokens, up.script.ttft_s = 5, 0.3
    keys = [{"name": "small", "key": "sk-small-000000001", "tokens_per_minute": 40}]
    with running_gateway(one_model(up.url), keys=keys) as gw:
        auth = {"Authorization": "Bearer sk-small-000000001"}
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: post(gw, chat(max_tokens=5), headers=auth), range(12)))
        ok = [r for r in answers if r.status_code == 200]
        spent = sum(r.json()["usage"]["total_tokens"] for r in ok)
        refused = [r for r in answers if r.status_code == 429]
        assert len(ok) + len(refused) == 12 and ok and refused
        assert spent <= 40  # each request reserved its prompt and max_tokens before it was admitted
        assert max(int(r.headers["retry-after"]) for r in refused) <= 60


def test_a_request_larger_than_the_whole_budget_is_refused_clearly(up):
    keys = [{"name": "small", "key": "sk-small-000000001", "tokens_per_minute": 20}]
    with running_gateway(one_model(up.url), keys=keys) as gw:
        r = post(gw, chat(max_tokens=100), headers={"Authorization": "Bearer sk-small-000000001"})
        assert r.status_code == 429 and "more than this key's" in error_of(r)["message"]
        assert not up.received


# ------------------------------------------------------------------------------- 6. timeouts, caps
def test_a_global_in_flight_limit_sheds_load_with_503(up):
    up.script.ttft_s = 1.0
    with running_gateway(one_model(up.url), limits={"max_in_flight": 2}) as gw:
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: post(gw, chat()), range(5)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 200, 503, 503, 503]
        shed = [r for r in answers if r.status_code == 503]
        assert all(error_of(r)["code"] == "gateway_overloaded" and r.headers["retry-after"] for r in shed)


def test_a_client_that_sends_its_body_slowly_is_cut(up):
    with running_gateway(one_model(up.url), timeouts={"client_body_s": 0.5}) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ALICE.encode()
                      + b"\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"mod")  # fmt: skip
            t = time.monotonic()
            answer = s.recv(4096)
            assert time.monotonic() - t < 3
        assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer


@pytest.mark.parametrize("sent", [b"", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: a"])
def test_a_connection_without_complete_headers_is_closed(up, sent):
    with running_gateway(one_model(up.url), timeouts={"client_header_s": 0.5}) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(sent)
            t = time.monotonic()
            assert s.recv(4096) == b""  # closed by the gateway, not by this client's 5 s timeout
            assert time.monotonic() - t < 3


def test_a_client_that_stops_reading_releases_its_engine_slot_at_the_deadline(up):
    up.script.tokens = 300_000  # ~40 MB, at once: the socket buffers fill long before the deadline
    with running_gateway(one_model(up.url), timeouts={"total_s": 4.0}) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        body = json.dumps(chat(stream=True)).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ALICE.encode()
                      + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                      + b"\r\n\r\n" + body)  # fmt: skip
            eventually(lambda: up.in_flight == 1)
            time.sleep(2)
            assert up.in_flight == 1  # blocked: the gateway holds the engine stream for the client
            eventually(lambda: up.in_flight == 0, timeout=6)  # never read, yet the engine request ended
        assert gw.metric("specstack_gateway_upstream_in_flight") == 0


# ------------------------------------------------------------------------------- 7. drain
def test_streams_still_open_at_the_drain_deadline_end_with_an_error_event(up):
    up.script.tokens, up.script.token_delay_s = 200, 0.05  # 10 s: longer than the drain
    with running_gateway(one_model(up.url), drain_timeout_s=1.0) as gw:
        stream = gw.client().chat.completions.create(**chat(), stream=True)
        it = iter(stream)
        next(it)
        threading.Thread(target=lambda: setattr(gw.server, "should_exit", True)).start()
        eventually(lambda: gw.gateway.draining)
        t = time.monotonic()
        with pytest.raises(openai.APIError, match="shutting down"):
            for _ in it:
                pass
        assert time.monotonic() - t < 3


def test_ready_is_503_as_soon_as_the_signal_arrives(up):
    with running_gateway(one_model(up.url)) as gw, httpx.Client() as client:
        assert client.get(gw.url + "/ready").status_code == 200
        gw.server.handle_exit(signal.SIGTERM, None)  # what uvicorn's signal handler calls
        assert gw.gateway.readiness()[0] is False  # before uvicorn's loop has even noticed
        with contextlib.suppress(
            httpx.TransportError
        ):  # the listener may be closed already: not ready either
            assert client.get(gw.url + "/ready", timeout=2).status_code == 503


# ------------------------------------------------------------------------------- 8. engine answer size
def test_an_engine_answer_over_the_size_cap_is_a_502(up):
    up.script.raw_body = b'{"x": "' + b"a" * 3_000_000 + b'"}'
    with running_gateway(one_model(up.url), limits={"max_response_bytes": 1_000_000}) as gw:
        r = post(gw, chat())
        assert r.status_code == 502 and error_of(r)["code"] == "upstream_response_too_large"


# ------------------------------------------------------------------------------- 9. leaks
def test_errors_do_not_show_internal_urls_and_slashes_do_not_redirect(up):
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    with running_gateway(one_model(dead)) as gw:
        r = post(gw, chat())
        assert r.status_code == 502 and "127.0.0.1" not in r.text and ":9" not in r.text
        r = httpx.post(gw.url + "/v1/chat/completions/", json=chat(), headers=AUTH, follow_redirects=False,
                       timeout=5)  # fmt: skip
        assert r.status_code == 404 and "location" not in r.headers


def test_metrics_can_require_a_token(up, monkeypatch):
    monkeypatch.setenv("TEST_METRICS_TOKEN", "scrape-secret-1234")
    with running_gateway(one_model(up.url), metrics_token_env="TEST_METRICS_TOKEN") as gw:
        assert httpx.get(gw.url + "/metrics").status_code == 401
        assert httpx.get(gw.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(gw.url + "/metrics", headers={"Authorization": "Bearer scrape-secret-1234"})
        assert ok.status_code == 200 and "specstack_gateway_requests_total" in ok.text


def test_repeated_failed_logins_are_rate_limited(up):
    with running_gateway(one_model(up.url), failed_auth_per_minute=5) as gw:
        codes = [post(gw, chat(), headers={"Authorization": f"Bearer sk-guess-{i:010d}"}).status_code
                 for i in range(8)]  # fmt: skip
        assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
        locked = post(gw, chat())  # locked out: not even a right key is looked at from this address
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with other:  # another client address is not affected
            r = other.post(gw.url + "/v1/chat/completions", json=chat(), headers=AUTH, timeout=10)
        assert r.status_code == 200


# ------------------------------------------------------------------------------- 10. validation
@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"demo","messages":[{"role":"user","content":"hi"}],"temperature":NaN}',
        b'{"model":"demo","messages":[{"role":"user","content":"hi"}],"x_extra":Infinity}',
        b'{"model":"demo","messages":[{"role":"user","content":"hi"}],"max_tokens":"10"}',
        b'{"model":"demo","messages":[{"role":"user","content":"hi"}],"max_tokens":true}',
        b'{"model":"demo","messages":[{"role":"user","content":"hi"}],"stream":"yes"}',
    ],
)
def test_non_standard_json_and_loose_types_are_400s(up, body):
    with running_gateway(one_model(up.url)) as gw:
        r = post(gw, body)
        assert r.status_code == 400, r.text
        assert error_of(r)["type"] == "invalid_request_error"
        assert not up.received


def test_the_prompt_limit_counts_every_content_part(up):
    with running_gateway(one_model(up.url), limits={"max_prompt_chars": 1000}) as gw:
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}}
        r = post(gw, chat(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]))
        assert r.status_code == 400 and error_of(r)["code"] == "prompt_too_long"


# ------------------------------------------------------------------------------- pools from DNS (the chart's pods)
def test_a_dns_name_becomes_one_replica_per_address(up):
    port = up.url.rsplit(":", 1)[1]
    with running_gateway(one_model(f"dns+http://localhost:{port}")) as gw:
        assert gw.client().chat.completions.create(**chat()).choices[0].message.content
        urls = {r.url for r in gw.gateway.replicas}
        assert f"http://127.0.0.1:{port}" in urls  # the name's address, not the name
        assert gw.metric("specstack_gateway_upstream_healthy", upstream=f"http://127.0.0.1:{port}") == 1


def test_a_name_that_does_not_resolve_leaves_an_empty_pool_answering_503():
    with running_gateway(one_model("dns+http://no-such-engine.invalid:8000")) as gw:
        r = post(gw, chat())
        assert (
            r.status_code == 503 and error_of(r)["code"] == "no_healthy_upstream" and r.headers["retry-after"]
        )
        assert httpx.get(gw.url + "/ready").status_code == 503
