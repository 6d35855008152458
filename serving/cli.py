"""`specstack serve ...`: the engine launcher here; the gateway adds its commands to the same group.

Keep this module light: heavy imports (vllm, torch, httpx) live inside the command functions.
"""

from __future__ import annotations

import signal
import sys

import click

from specstack.errors import SpecstackError


@click.group()
def serve() -> None:
    """Serve models: an engine (vLLM on CPU or GPU, SGLang on GPU) and the OpenAI gateway in front of it."""


def load_engine_config(config_path: str | None):
    """The `serve:` section of a run config, or the defaults when no file is given."""
    from serving.engines.config import EngineConfig
    from specstack.config import load_run_config, require_section

    if config_path is None:
        return EngineConfig()
    return require_section(load_run_config(config_path), "serve", config_path)


@serve.command("engine")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="Run config with a 'serve:' section."
)
@click.option(
    "--model", type=click.Path(file_okay=False), help="Target model directory (overrides serve.model)."
)
@click.option(
    "--draft", type=click.Path(file_okay=False), help="EAGLE-3 draft directory (overrides serve.draft)."
)
@click.option("--num-draft-tokens", type=click.IntRange(1, 16), help="Draft tokens per speculative step.")
@click.option(
    "--engine", type=click.Choice(["auto", "vllm", "sglang"]), help="Engine (default: serve.engine)."
)
@click.option(
    "--no-speculation", is_flag=True, help="Serve the target alone, even when a draft is configured."
)
@click.option("--dtype", type=click.Choice(["auto", "bfloat16", "float16", "float32"]), help="Weights dtype.")
@click.option("--host", help="Bind address (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="HTTP port (0: pick a free one).")
@click.option(
    "--print-command", is_flag=True, help="Check the inputs, print the engine's command line and exit."
)
def engine(
    config_path: str | None,
    model: str | None,
    draft: str | None,
    num_draft_tokens: int | None,
    engine: str | None,
    no_speculation: bool,
    dtype: str | None,
    host: str | None,
    port: int | None,
    print_command: bool,
) -> None:
    """Run an engine server in the foreground until Ctrl-C: OpenAI API at http://HOST:PORT/v1, /metrics, /health."""
    from serving.engines.config import EngineConfig
    from serving.engines.launcher import plan, start_engine
    from specstack.configbase import validate

    flags = {
        "model": model,
        "draft": draft,
        "num_draft_tokens": num_draft_tokens,
        "engine": engine,
        "dtype": dtype,
        "host": host,
        "port": port,
        "speculative": False if no_speculation else None,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    cfg = load_engine_config(config_path)
    if given:  # (specstack.configbase.with_overrides names its first parameter `model`, as our field is)
        cfg = validate(EngineConfig, {**cfg.model_dump(), **given}, "command-line flags")
    if print_command:
        click.echo(plan(cfg).shell())
        return

    # SIGTERM (docker stop, kill) unwinds like Ctrl-C, so the engine's process group is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # even when started with SIGINT ignored (`cmd &`)
    proc = start_engine(cfg, log=sys.stderr)
    try:
        spec = (
            f"EAGLE-3 draft {cfg.draft}, k={cfg.num_draft_tokens}" if proc.command.speculative else "no draft"
        )
        click.echo(
            f"[specstack] {proc.command.engine} ({proc.command.device}) serves '{proc.model_name}' ({spec}) at "
            f"{proc.base_url}/v1 ; Ctrl-C stops it",
            err=True,
        )
        code = proc.proc.wait()
        raise SpecstackError(
            f"{proc.command.engine} exited on its own with code {code}; last log lines: {proc.failure_summary()}"
        )
    except KeyboardInterrupt:
        click.echo("[specstack] stopping the engine", err=True)
    finally:
        proc.stop()


def _add_gateway_commands() -> None:
    """`serve gateway` and `serve stack` live with the gateway (serving/gateway/cli.py)."""
    import importlib.util

    if importlib.util.find_spec("serving.gateway.cli") is not None:
        from serving.gateway.cli import register

        register(serve)


_add_gateway_commands()
