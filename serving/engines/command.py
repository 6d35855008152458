"""What a launcher runs: the exact argv and environment of one engine server, built by a pure function."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngineCommand:
    """One engine server process: argv, the variables set on top of the caller's environment, and its address."""

    engine: str  # "vllm" | "sglang"
    device: str  # "cpu" | "cuda"
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "model"
    speculative: bool = False
    health_path: str = "/health"

    @property
    def base_url(self) -> str:
        """`http://host:port`, the root of the engine's HTTP API (OpenAI routes live under /v1)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def shell(self) -> str:
        """A copy-pasteable shell line: `VAR=value ... argv`."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        cmd = shlex.join(self.argv)
        return f"{env} {cmd}" if env else cmd

    def flag_value(self, flag: str) -> str | None:
        """The value after `flag` in argv (None when absent); for tests and logs."""
        for i, arg in enumerate(self.argv[:-1]):
            if arg == flag:
                return self.argv[i + 1]
        return None
