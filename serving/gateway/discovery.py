"""Engine replicas found through DNS: a pool URL `dns+http://NAME:PORT` is every address NAME resolves to.

Behind a Kubernetes headless Service (clusterIP: None) a name resolves to one address per ready engine pod,
so health checks, circuit breakers and least-outstanding routing act on each pod rather than on one
Service address that spreads requests by itself (vLLM's production-stack router and SGLang's router discover
their engines the same way). The names are resolved when the gateway starts and every `interval_s` after;
a replica whose address disappears leaves its pool (requests already sent to it finish), a new address
joins. A failed or empty lookup keeps the last known replicas: DNS trouble must not empty a pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from serving.gateway.upstreams import Pool, Replica

log = logging.getLogger("specstack.gateway")

PREFIX = "dns+"


def is_discovered(url: str) -> bool:
    return url.startswith(PREFIX)


async def resolve(url: str) -> list[str]:
    """`dns+http://name:port` -> the sorted base URLs of every address `name` resolves to."""
    parts = urlsplit(url.removeprefix(PREFIX))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    urls = set()
    for _family, _type, _proto, _name, address in infos:
        host = address[0]
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
        urls.add(f"{parts.scheme}://{host}:{port}")
    return sorted(urls)


class Discovery:
    """Keeps the pools whose URLs are `dns+` names in step with DNS."""

    def __init__(self, targets: list[tuple[Pool, list[str]]], make: Callable[[Pool, str, int], Replica],
                 interval_s: float) -> None:  # fmt: skip
        self.targets = [(pool, names) for pool, names in targets if names]
        self.make = make
        self.interval_s = interval_s

    async def refresh(self) -> None:
        """One round: resolve every name and update its pool's members."""
        for pool, names in self.targets:
            found: list[str] = []
            for name in names:
                try:
                    found += await resolve(name)
                except (OSError, UnicodeError) as e:
                    log.warning("discovery: cannot resolve %s (%s); keeping the last known replicas", name, e)
                    return
            if found:
                pool.set_members(found, lambda url, i, p=pool: self.make(p, url, i))
            else:
                log.warning("discovery: %s resolved to nothing; keeping the last known replicas", names)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
            except Exception:  # a discovery bug must not end the loop
                log.exception("discovery round failed")
