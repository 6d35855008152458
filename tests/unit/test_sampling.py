"""The endpoint client on the openai SDK against a scripted endpoint (test double): answers, backoff,
Retry-After, one-line errors naming the endpoint, and the API key header."""

from __future__ import annotations

import time

import pytest
from starlette.responses import JSONResponse, Response

from adaptation.sampling import EndpointClient, EndpointConfig
from specstack.errors import SpecstackError
from specstack.net import free_port
from tests.fakes.scripted_chat import ScriptedChat

HELLO = [{"role": "user", "content": "Привет"}]


def chat_error(cfg: EndpointConfig) -> str:
    """The one-line error a chat request to `cfg` ends with."""
    with EndpointClient(cfg) as client, pytest.raises(SpecstackError) as err:
        client.chat(HELLO)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_answers_come_back_as_sent_with_the_request_body_as_before():
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with (
        ScriptedChat(reply=lambda body: {"content": None, "tool_calls": [call]}) as up,
        EndpointClient(EndpointConfig(url=up.url + "/v1/", model="m"), 0.3, 16) as client,
    ):
        message = client.chat(HELLO, tools=[{"type": "function"}], top_p=0.9)
        assert client.sample(HELLO, 2) == [[{"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]] * 2  # fmt: skip
    assert message == {"content": None, "tool_calls": [call], "role": "assistant"}
    assert up.received[0].path == "/v1/chat/completions"
    assert up.received[0].body == {"model": "m", "messages": HELLO, "temperature": 0.3, "max_tokens": 16,
                                   "top_p": 0.9, "tools": [{"type": "function"}]}  # fmt: skip


def test_retry_after_is_waited_out():
    def busy_once(body: dict) -> str | Response:
        if len(up.received) == 1:
            return JSONResponse({"error": {"message": "busy"}}, 429, {"Retry-After": "1"})
        return "Ответ"

    with ScriptedChat(reply=busy_once) as up, EndpointClient(EndpointConfig(url=up.url)) as client:
        start = time.monotonic()
        assert client.chat(HELLO)["content"] == "Ответ"
        assert time.monotonic() - start >= 0.95 and len(up.received) == 2


def test_server_errors_are_retried_with_backoff_then_named():
    with ScriptedChat() as up:
        up.script.status = 503
        start = time.monotonic()
        msg = chat_error(EndpointConfig(url=up.url, max_retries=2))
        elapsed = time.monotonic() - start
    assert msg.startswith(f"{up.url}/v1/chat/completions: HTTP 503: ") and "scripted 503" in msg
    assert len(up.received) == 3 and elapsed >= 0.8  # two backoff sleeps (about 0.5 s and 1 s, jittered)


def test_client_errors_and_non_completions_are_not_retried():
    with ScriptedChat(reply=lambda body: JSONResponse({"error": {"message": "bad\nmodel"}}, 400)) as up:
        assert "HTTP 400: " in chat_error(EndpointConfig(url=up.url)) and len(up.received) == 1
    with ScriptedChat(reply=lambda body: Response(b"<html>\n<p>hi</p>", 200)) as up:
        msg = chat_error(EndpointConfig(url=up.url))
    assert msg == f"{up.url}/v1/chat/completions: not a chat completion: <html> <p>hi</p>"


def test_unreachable_endpoint_is_one_line_naming_it():
    url = f"http://127.0.0.1:{free_port()}"
    msg = chat_error(EndpointConfig(url=url, max_retries=0))
    assert msg.startswith(f"{url}/v1/chat/completions: Connection error.") and "ConnectError" in msg


def test_api_key_is_sent_only_when_configured(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-endpoint")
    monkeypatch.setenv("POLICY_KEY", "sk-policy")
    with ScriptedChat(reply=lambda body: "ok") as up:
        for env in ("POLICY_KEY", None):
            with EndpointClient(EndpointConfig(url=up.url, api_key_env=env)) as client:
                client.chat(HELLO)
    assert up.received[0].headers["authorization"] == "Bearer sk-policy"
    assert "authorization" not in up.received[1].headers
    with pytest.raises(SpecstackError, match=r"\$NO_SUCH_KEY is not set \(the API key for http://x\)"):
        EndpointClient(EndpointConfig(url="http://x", api_key_env="NO_SUCH_KEY"))
