"""Rate limits shared between gateway replicas through a real `redis-server` (Debian's, started here).

Two gateways on loopback share one Redis; a key's budget holds across both. Redis is then stopped mid-run:
the gateways fail open to their own in-process limits (documented in serving/gateway/sharedlimits.py), and
share again once Redis is back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from specstack.net import free_port
from tests.fakes.scripted_upstream import Script, ScriptedUpstream
from tests.unit.gateway_helpers import chat, running_gateway

pytestmark = pytest.mark.timeout(90)
KEY = "sk-shared-00000001"
KEYS = [{"name": "shared", "key": KEY, "requests_per_second": 0.05, "burst": 3}]


def redis_binary() -> str:
    path = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not path or not Path(path).exists():
        pytest.skip(
            "REDIS-SERVER MISSING: the shared-limits tests were NOT run. `make install` unpacks Debian's "
            "redis-server into .venv/tools (scripts/install_system_deps.sh), or set REDIS_SERVER"
        )
    return path


class RedisProcess:
    """A throwaway redis-server on a loopback port, no persistence."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary, self.port = binary, port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess(redis_binary(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def codes(gw, n: int) -> list[int]:
    return [httpx.post(gw.url + "/v1/chat/completions", json=chat(), headers={"Authorization": f"Bearer {KEY}"},
                       timeout=10).status_code for _ in range(n)]  # fmt: skip


def test_two_gateways_share_one_budget_and_fail_open_while_redis_is_away(redis_server):
    shared = {"shared_limits": {"redis_url": redis_server.url, "timeout_s": 0.2, "retry_s": 0.5}}
    with ScriptedUpstream(Script(tokens=3)) as up:
        models = {"demo": {"plain": [up.url]}}
        with (
            running_gateway(models, keys=KEYS, **shared) as g1,
            running_gateway(models, keys=KEYS, **shared) as g2,
        ):
            # a burst of 3 for the key, across both replicas (each alone would allow 3: 6 in all)
            assert codes(g1, 2) + codes(g2, 1) == [200, 200, 200]
            assert codes(g2, 1) + codes(g1, 1) == [429, 429]
            assert g1.metric("specstack_gateway_ratelimit_store_errors_total") == 0

            redis_server.stop()  # Redis goes away: each replica applies the key's limit on its own
            assert codes(g1, 4) == [200, 200, 200, 429]
            assert g1.metric("specstack_gateway_ratelimit_store_errors_total") >= 1

            redis_server.start()  # back, empty: after retry_s the replicas share one budget again
            time.sleep(0.6)
            assert codes(g2, 2) + codes(g1, 1) == [200, 200, 200]
            assert codes(g1, 1) == [429]
