"""`specstack serve gateway` / `serve stack`: flags and config, and the real process with a SIGTERM drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from serving.gateway.cli import read_sections, with_upstreams
from serving.gateway.config import GatewayConfig
from specstack.cli import main
from specstack.errors import SpecstackError
from specstack.net import free_port
from tests.fakes.scripted_upstream import Script, ScriptedUpstream
from tests.unit.gateway_helpers import wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-cli-test-0000001"


def test_upstream_flags_override_the_config_and_discover_the_name():
    cfg = GatewayConfig.model_validate(
        {"models": {"demo": {"plain": ["http://a:1"], "upstream_model": "served"}}}
    )
    out = with_upstreams(cfg, ["http://b:2"], ["http://c:3"], None, 4)
    route = out.models["demo"]
    assert (route.plain, route.speculative, route.spec_inflight_threshold) == (
        ["http://b:2"],
        ["http://c:3"],
        4,
    )
    assert route.upstream_model == "served"  # the rest of the configured route is kept
    assert with_upstreams(cfg, [], [], None, 2).models["demo"].spec_inflight_threshold == 2
    with ScriptedUpstream() as up:
        assert list(with_upstreams(GatewayConfig(), [up.url], [], None, None).models) == ["fake"]
    with pytest.raises(SpecstackError, match="pass --model"):
        with_upstreams(GatewayConfig(), [f"http://127.0.0.1:{free_port()}"], [], None, None)


def test_config_sections_are_read_alone_and_errors_name_the_key(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("demo: {whatever: 1}\ngateway:\n  port: 8123\n  models:\n    m: {plain: ['http://x:1']}\n")
    gw, engine = read_sections(str(f))
    assert gw.port == 8123 and engine is None
    f.write_text("gateway:\n  models:\n    m: {plain: ['http://x:1'], colour: red}\n")
    with pytest.raises(SpecstackError, match=r"gateway\.models\.m\.colour: unknown key"):
        read_sections(str(f))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["serve", "gateway", "--port", str(free_port())]) == 1
    assert "no upstreams" in capsys.readouterr().err
    f = tmp_path / "run.yaml"
    f.write_text("gateway: {}\n")
    assert main(["serve", "stack", "--config", str(f)]) == 1
    assert "needs a 'serve:' section" in capsys.readouterr().err


@pytest.mark.timeout(90)
def test_gateway_process_serves_then_drains_on_sigterm(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - {{name: cli, key: {KEY}}}\n")
    port = free_port()
    with ScriptedUpstream(Script(tokens=30, token_delay_s=0.03)) as up:
        log = tmp_path / "gateway.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "specstack.cli", "serve", "gateway", "--upstream", up.url, "--model", "demo",
                 "--api-keys-file", str(keys), "--port", str(port)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(base, proc, log, path="/ready")
            client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0)
            it = iter(client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "x"}],
                                                     stream=True, extra_headers={"X-Request-Id": "cli-rid-1"}))  # fmt: skip
            next(it)
            proc.send_signal(signal.SIGTERM)
            rest = "".join(c.choices[0].delta.content or "" for c in it)
            assert rest.count("tok") == 30  # the open stream was drained, not cut
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "cli-rid-1 key=cli model=demo" in text  # the access log names the key, never the secret
    assert KEY not in text
