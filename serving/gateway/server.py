"""Running the gateway: uvicorn with a graceful drain, in the foreground or in a background thread.

On SIGTERM/SIGINT (or `should_exit`), the gateway marks itself draining (/ready answers 503 from the
signal on), stops accepting connections, lets open requests and streams finish for up to
`drain_timeout_s`, ends streams still open just before that deadline with an error event and `[DONE]`,
then cancels what is left (their engine requests are cancelled with them), and finally closes its engine
connections.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from serving.gateway.app import create_app
from serving.gateway.auth import KeyStore
from serving.gateway.config import GatewayConfig
from serving.gateway.protocol import with_header_timeout
from specstack.errors import SpecstackError
from specstack.net import port_in_use


class GatewayServer(uvicorn.Server):
    """uvicorn.Server that flags the gateway as draining before uvicorn's own graceful shutdown."""

    def __init__(self, cfg: GatewayConfig, keys: KeyStore | None = None, log_level: str = "info") -> None:
        self.app = create_app(cfg, keys)
        config = uvicorn.Config(
            self.app,
            host=cfg.host,
            port=cfg.port,
            timeout_graceful_shutdown=cfg.drain_timeout_s,
            log_level=log_level,
            access_log=False,  # the gateway logs its own line per request, with the request id
            lifespan="on",
            server_header=False,
            limit_concurrency=cfg.limits.max_connections,
            http=with_header_timeout(cfg.timeouts.client_header_s),
        )
        super().__init__(config)

    def handle_exit(self, sig: int, frame: object) -> None:
        """A signal: /ready answers 503 at once, before uvicorn's loop notices `should_exit`."""
        self.app.state.gateway.draining = True
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.app.state.gateway.begin_drain()
        await super().shutdown(sockets)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(cfg: GatewayConfig, keys: KeyStore | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM, drain, and return (main thread only).

    uvicorn handles both signals itself and, once drained, re-raises the one it got with the handlers that
    were there before; SIGTERM's is made to raise KeyboardInterrupt like SIGINT's, which ends here, so
    callers unwind normally (`serve stack` stops its engines after this returns)."""
    if port_in_use(cfg.port, "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host):
        raise SpecstackError(f"port {cfg.port} is already in use; pick another with --port")
    server = GatewayServer(cfg, keys)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        raise SpecstackError(f"the gateway could not start on {cfg.host}:{cfg.port} (see the log above)")


@contextmanager
def gateway_in_thread(cfg: GatewayConfig, keys: KeyStore | None = None,
                      log_level: str = "warning") -> Iterator[GatewayServer]:  # fmt: skip
    """Serve in a background thread (tests, `serve stack`); on exit, drain and stop."""
    server = GatewayServer(cfg, keys, log_level=log_level)
    thread = threading.Thread(target=server.run, name="specstack-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise SpecstackError(f"the gateway failed to start on {cfg.host}:{cfg.port}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise SpecstackError("the gateway did not start within 30 s")
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=cfg.drain_timeout_s + 10)
