"""What a launcher runs: the exact argv and environment of one engine server, built by a pure function."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.engines.config import EngineConfig


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


@dataclass(frozen=True)
class ServerFlags:
    """How one engine spells the flags every server command has."""

    module: str  # python -m <module>
    model: str
    max_seqs: str
    seed: str
    context_length: str


def common_server_argv(cfg: EngineConfig, flags: ServerFlags, python: str, port: int) -> list[str]:
    """The part of an engine's argv both engines have: model, name, address, dtype, batch, seed, length."""
    if cfg.model is None:
        raise ValueError(f"{flags.module} needs cfg.model")
    if cfg.speculation_on and cfg.draft is None:
        raise ValueError("speculative decoding needs cfg.draft")
    argv = [python, "-m", flags.module, flags.model, str(cfg.model), "--served-model-name", cfg.model_name()]
    argv += ["--host", cfg.host, "--port", str(port), "--dtype", cfg.dtype]
    argv += [flags.max_seqs, str(cfg.max_num_seqs), flags.seed, str(cfg.seed)]
    if cfg.max_model_len is not None:
        argv += [flags.context_length, str(cfg.max_model_len)]
    return argv
