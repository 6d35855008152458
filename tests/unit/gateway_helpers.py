"""Helpers for the gateway tests: a real gateway on loopback in a thread, the openai client, /metrics reading."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from serving.gateway.auth import KeyStore
from serving.gateway.config import GatewayConfig
from serving.gateway.server import GatewayServer, gateway_in_thread
from specstack.net import free_port

ALICE = "sk-alice-0000000001"
BOB = "sk-bob-00000000002"
DEFAULT_KEYS = [{"name": "alice", "key": ALICE}, {"name": "bob", "key": BOB}]
FAST = {
    "timeouts": {"connect_s": 1.0, "first_byte_s": 10.0, "total_s": 20.0},
    # quick probes, but patient enough that a loaded test machine does not make replicas flap
    "health": {"interval_s": 0.2, "timeout_s": 2.0, "unhealthy_after": 2},
    "drain_timeout_s": 5.0,
    "access_log": False,
}


@dataclass
class RunningGateway:
    url: str
    server: GatewayServer
    cfg: GatewayConfig

    def client(self, key: str = ALICE, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=kw.pop("timeout", 20), **kw
        )

    def metrics_text(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=5).text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels` (0.0 when there are none)."""
        return metric_value(self.metrics_text(), name, **labels)

    @property
    def gateway(self):
        return self.server.app.state.gateway


def metric_value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


@contextmanager
def running_gateway(
    models: dict[str, Any], keys: list[dict] | None = None, **cfg: Any
) -> Iterator[RunningGateway]:
    """A gateway for `models` on a free loopback port; `keys` in the keys-file form (None: alice and bob)."""
    settings = {**FAST, **cfg}
    config = GatewayConfig.model_validate({"port": free_port(), "models": models, **settings})
    store = KeyStore.from_entries(DEFAULT_KEYS if keys is None else keys, config.default_limits)
    with gateway_in_thread(config, store) as server:
        yield RunningGateway(f"http://127.0.0.1:{config.port}", server, config)


def chat(**kw: Any) -> dict[str, Any]:
    """Arguments of a small chat request."""
    return {"model": "demo", "messages": [{"role": "user", "content": "привет, как дела"}], **kw}


def one_model(*urls: str, **route: Any) -> dict[str, Any]:
    """The `models:` of a gateway serving "demo" from the plain pool at `urls`."""
    return {"demo": {"plain": list(urls), **route}}


def wait_until_serving(base: str, proc: subprocess.Popen, log: Path, path: str = "/health",
                       timeout_s: float = 60) -> None:  # fmt: skip
    """Poll `base + path` until it answers 200; fail with the log's tail if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(base + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)


def eventually(cond: Any, timeout: float = 5.0) -> None:
    """Wait until `cond()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
