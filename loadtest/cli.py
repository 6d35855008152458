"""`specstack loadtest`: run the speculative-vs-plain load test, or redraw a report. Heavy imports stay inside
the commands so `--help` is instant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _set(data: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for p in parents:
        if node.get(p) is None:
            node[p] = {}
        node = node[p]
    node[leaf] = value


def _concurrencies(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter("a comma-separated list of integers, e.g. 1,2,4,8") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def loadtest() -> None:
    """Load-test speculative vs plain serving: batch-size sweep, fixed rate, capacity probe, report."""


@loadtest.command("run")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Run config YAML with a loadtest: section.",
)
@click.option("--plain-url", help="Base URL of the plain deployment (overrides loadtest.plain_url).")
@click.option("--spec-url", help="Base URL of the speculative deployment (overrides loadtest.spec_url).")
@click.option("--start-servers/--no-start-servers", default=None,
              help="Start both engines from the config's serve: section (speculation off, then on).")  # fmt: skip
@click.option("--gateway-url", help="Also measure the gateway's pool at this URL.")
@click.option("--model", help="Model name in requests (default: the server's first /v1/models id).")
@click.option("--dataset", type=click.Path(dir_okay=False), help="SFT JSONL to take prompts from.")
@click.option("--max-tokens", type=int, help="max_tokens of every request.")
@click.option("--rate", type=float, help="Fixed arrival rate, requests/s.")
@click.option(
    "--arrival", type=click.Choice(["poisson", "constant"]), help="Arrival process of the fixed-rate run."
)
@click.option("--duration", type=float, help="Arrival window of the fixed-rate run, seconds.")
@click.option("--concurrencies", callback=_concurrencies, help="Sweep levels, e.g. 1,2,4,8,16,32,64.")
@click.option("--requests-per-level", type=int, help="Requests measured at each sweep level.")
@click.option("--processes", type=int, help="Load-generator processes for fixed-rate runs.")
@click.option("--no-sweep", is_flag=True, help="Skip the batch-size sweep.")
@click.option("--no-fixed-rate", is_flag=True, help="Skip the fixed-rate runs (and the capacity probe).")
@click.option("--no-capacity", is_flag=True, help="Skip the capacity probe.")
@click.option("--seed", type=int, help="Seed for prompt order and arrival times.")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Where the report goes.")
@click.option("--no-progress", is_flag=True, help="No progress bars (logs only).")
def run(config_path: str | None, no_progress: bool, **flags: Any) -> None:
    """Run the load test and write report.json, requests.csv, report.md and PNG plots.

    Without --config, the defaults of the loadtest: section apply (see docs/loadtest.md) and flags fill in
    the rest, e.g. `specstack loadtest run --plain-url http://127.0.0.1:8001 --spec-url http://127.0.0.1:8000`.
    """
    from loadtest.config import LoadtestConfig
    from loadtest.runner import run_loadtest
    from specstack.configbase import validate

    engine_cfg = None
    if config_path:
        from specstack.config import load_run_config, require_section

        run_cfg = load_run_config(config_path)
        data = require_section(run_cfg, "loadtest", config_path).model_dump()
        engine_cfg = getattr(run_cfg, "serve", None)
    else:
        data = LoadtestConfig().model_dump()
    mapping = {
        "plain_url": "plain_url", "spec_url": "spec_url", "start_servers": "start_servers", "model": "model",
        "dataset": "dataset", "max_tokens": "max_tokens", "rate": "fixed_rate.rate",
        "arrival": "fixed_rate.arrival", "duration": "fixed_rate.duration_s",
        "concurrencies": "sweep.concurrencies", "requests_per_level": "sweep.requests_per_level",
        "processes": "generator_processes", "seed": "seed", "out_dir": "out_dir",
    }  # fmt: skip
    for flag, dotted in mapping.items():
        if flags.get(flag) is not None:
            _set(data, dotted, flags[flag])
    if flags.get("requests_per_level") is not None:
        data["sweep"]["duration_s"] = None
    if flags.get("gateway_url"):
        data["gateway"] = {**(data.get("gateway") or {}), "url": flags["gateway_url"]}
    if flags["no_sweep"]:
        data["sweep"]["enabled"] = False
    if flags["no_capacity"]:
        data["capacity"]["enabled"] = False
    if flags["no_fixed_rate"]:
        data["fixed_rate"] = None
    cfg = validate(LoadtestConfig, data, config_path or "command-line flags")
    path = run_loadtest(cfg, engine_cfg, show_progress=False if no_progress else None)
    click.echo(str(path))


@loadtest.command("demo")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default="configs/demo.yaml",
              show_default=True, help="The demo run config.")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False), help="Where the report goes.")
@click.option("--no-progress", is_flag=True, help="No progress bars (logs only).")
def demo(config_path: str, out_dir: str | None, no_progress: bool) -> None:
    """The demo's load test: start the demo target with and without its draft, sweep, fixed rate, report.

    Uses the config's loadtest: section when it has one (else a short default: sweep 1..16, 20 s at
    12 req/s) and its serve: section (else vLLM on demo.out_dir/target and demo.out_dir/draft).
    """
    import os

    from loadtest.runner import run_demo_loadtest
    from specstack.config import load_run_config

    if no_progress:
        os.environ["SPECSTACK_NO_PROGRESS"] = "1"
    run_cfg = load_run_config(config_path)
    if out_dir:
        from loadtest.config import LoadtestConfig

        section = run_cfg.loadtest
        if section is None:
            from loadtest.runner import DEMO_DEFAULTS

            section = LoadtestConfig(**DEMO_DEFAULTS)
        run_cfg = run_cfg.model_copy(update={"loadtest": section.model_copy(update={"out_dir": out_dir})})
    click.echo(str(run_demo_loadtest(run_cfg)))


@loadtest.command("report")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True))
def report(out_dir: str) -> None:
    """Redraw the plots and report.md of OUT_DIR from its report.json and requests.jsonl."""
    from loadtest.report import rerender

    click.echo(str(rerender(Path(out_dir))))


@loadtest.command("locustfile")
def locustfile() -> None:
    """Print the path of the locustfile, for Locust's own UI or master/worker mode (see docs/loadtest.md)."""
    click.echo(str(Path(__file__).with_name("locustfile.py")))
