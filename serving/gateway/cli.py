"""`specstack serve gateway` and `specstack serve stack`.

    specstack serve gateway --upstream http://127.0.0.1:8101 --port 8000
    specstack serve gateway --config run.yaml [--upstream URL ...] [--spec-upstream URL ...] [--api-keys-file F]
    specstack serve stack --config run.yaml      # engines from `serve:` (with and without the draft) + gateway

Heavy imports (fastapi, httpx, the engine launcher) happen inside the commands.
"""

from __future__ import annotations

import logging
import sys

import click

from serving.gateway.config import GatewayConfig, ModelRoute, StackConfig
from specstack.errors import SpecstackError


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def read_sections(config_path: str) -> tuple[GatewayConfig, object | None]:
    """The `gateway:` and `serve:` sections of a run config, validated, with errors naming the file and key.

    Only these two are read: importing the whole RunConfig would import every part's schema, some of which
    pull in torch and transformers (seconds, and a gateway image that needs neither)."""
    from pydantic import BaseModel, ConfigDict

    from serving.engines.config import EngineConfig
    from specstack.configbase import read_yaml, validate

    class Sections(BaseModel):
        model_config = ConfigDict(extra="ignore")
        gateway: GatewayConfig | None = None
        serve: EngineConfig | None = None

    sections = validate(Sections, read_yaml(config_path), str(config_path))
    return sections.gateway or GatewayConfig(), sections.serve


def discover_model_name(url: str, timeout_s: float = 10.0) -> str:
    """The first model an OpenAI-compatible server lists at /v1/models (retried for `timeout_s`)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    problem = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "/v1/models", timeout=2.0, trust_env=False)
            data = r.json().get("data") or []
            if r.status_code == 200 and data and data[0].get("id"):
                return str(data[0]["id"])
            problem = f"HTTP {r.status_code}, no model listed"
        except (httpx.HTTPError, ValueError, AttributeError) as e:
            problem = type(e).__name__
        time.sleep(0.5)
    raise SpecstackError(f"cannot learn the model name from {url}/v1/models ({problem}); pass --model NAME")


def with_upstreams(
    cfg: GatewayConfig, plain: list[str], spec: list[str], model: str | None, threshold: int | None
) -> GatewayConfig:
    """`cfg` with the model `model` served by the given upstream URLs (flags win over the config file)."""
    from specstack.configbase import validate

    if not plain and not spec:
        if threshold is None:
            return cfg
        if model is None and len(cfg.models) == 1:
            model = next(iter(cfg.models))
        if model not in cfg.models:
            raise SpecstackError("--spec-threshold: name the configured model with --model")
        plain, spec = cfg.models[model].plain, cfg.models[model].speculative
    if model is None:
        model = next(iter(cfg.models)) if len(cfg.models) == 1 else discover_model_name((spec or plain)[0])
    base = cfg.models[model].model_dump() if model in cfg.models else {}
    base.update(speculative=list(spec), plain=list(plain))
    if threshold is not None:
        base["spec_inflight_threshold"] = threshold
    route = validate(ModelRoute, base, "command-line flags")
    return cfg.model_copy(update={"models": {**cfg.models, model: route}})


@click.command("gateway")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="Run config with a 'gateway:' section."
)
@click.option(
    "--upstream", "plain", multiple=True, metavar="URL", help="Engine base URL (plain pool); repeatable."
)
@click.option(
    "--spec-upstream", "spec", multiple=True, metavar="URL", help="Engine with a draft; repeatable."
)
@click.option("--model", help="Model name for the --upstream URLs (default: the one configured, or asked).")
@click.option(
    "--spec-threshold", type=click.IntRange(1), help="Load-aware speculation threshold (in flight)."
)
@click.option(
    "--api-keys-file", type=click.Path(dir_okay=False, exists=True), help="YAML/JSON API keys file."
)
@click.option("--host", help="Bind address (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000).")
def gateway(
    config_path: str | None,
    plain: tuple[str, ...],
    spec: tuple[str, ...],
    model: str | None,
    spec_threshold: int | None,
    api_keys_file: str | None,
    host: str | None,
    port: int | None,
) -> None:
    """Run the OpenAI-compatible gateway in front of engine servers, until Ctrl-C (then drain)."""
    from serving.gateway.server import serve
    from specstack.configbase import with_overrides

    cfg = read_sections(config_path)[0] if config_path else GatewayConfig()
    cfg = with_upstreams(cfg, list(plain), list(spec), model, spec_threshold)
    cfg = with_overrides(cfg, api_keys_file=api_keys_file, host=host, port=port)
    if not cfg.models:
        raise SpecstackError("no upstreams: pass --upstream URL or configure gateway.models")
    _setup_logging()
    logging.getLogger("specstack.gateway").info(
        "gateway on http://%s:%d/v1 for %s", cfg.host, cfg.port, ", ".join(cfg.models)
    )
    serve(cfg)


@click.command("stack")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Run config with 'serve:' (the engine) and 'gateway:' (optionally gateway.stack) sections.")  # fmt: skip
@click.option(
    "--api-keys-file", type=click.Path(dir_okay=False, exists=True), help="YAML/JSON API keys file."
)
@click.option("--host", help="Gateway bind address (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Gateway port (default gateway.port).")
def stack(config_path: str, api_keys_file: str | None, host: str | None, port: int | None) -> None:
    """Start the engines (speculative and plain pools) and the gateway; Ctrl-C stops them all together."""
    from contextlib import ExitStack

    from serving.engines import start_engine
    from serving.gateway.server import serve
    from specstack.configbase import with_overrides

    gateway_cfg, engine_cfg = read_sections(config_path)
    if engine_cfg is None:
        raise SpecstackError(
            f"{config_path}: this command needs a 'serve:' section in the config (the engine)"
        )
    cfg = with_overrides(gateway_cfg, api_keys_file=api_keys_file, host=host, port=port)
    plan = cfg.stack or StackConfig()
    if plan.speculative_replicas and engine_cfg.draft is None:
        raise SpecstackError(
            f"{config_path}: gateway.stack wants speculative replicas but serve.draft is not set"
        )
    _setup_logging()
    with ExitStack() as engines:
        urls: dict[str, list[str]] = {"speculative": [], "plain": []}
        served = None
        for pool, count in (("speculative", plan.speculative_replicas), ("plain", plan.plain_replicas)):
            for i in range(count):
                one = with_overrides(engine_cfg, port=0, speculative=pool == "speculative")
                proc = start_engine(one, log=sys.stderr, prefix=f"[{pool}-{i}] ")
                engines.callback(proc.stop)
                urls[pool].append(proc.base_url)
                served = proc.model_name
        name = plan.model or served
        route = ModelRoute(speculative=urls["speculative"], plain=urls["plain"], upstream_model=served,
                           spec_inflight_threshold=plan.spec_inflight_threshold)  # fmt: skip
        cfg = cfg.model_copy(update={"models": {**cfg.models, name: route}})
        click.echo(f"[specstack] gateway on http://{cfg.host}:{cfg.port}/v1 serving '{name}': "
                   f"{len(urls['speculative'])} speculative + {len(urls['plain'])} plain engine(s); Ctrl-C stops all",
                   err=True)  # fmt: skip
        serve(cfg)


def register(group: click.Group) -> None:
    """Add `gateway` and `stack` to the `specstack serve` group."""
    group.add_command(gateway)
    group.add_command(stack)


__all__ = ["gateway", "register", "stack", "with_upstreams"]
