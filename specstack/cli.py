"""The `specstack` console script: one group per part of the stack, loaded lazily so `--help` is fast.

Errors users can fix (bad flags, bad config, missing files, a missing optional package) print one line and
exit non-zero; set SPECSTACK_DEBUG=1 to see the traceback of an unexpected failure.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from specstack import __version__
from specstack.errors import SpecstackError

# command name -> "module:attribute" of its click group, and its one-line summary.
GROUPS: dict[str, tuple[str, str]] = {
    "adapt": ("adaptation.cli:adapt", "Adapt a base model to Russian: tokenizer merge, embedding training."),
    "demo": ("specstack.demo.cli:demo", "Build the demo corpus and models; run the whole demo flow."),
    "serve": ("serving.cli:serve", "Serve models: engine (vLLM/SGLang with an EAGLE-3 draft), gateway."),
    "eval": (
        "adaptation.eval.cli:evaluate",
        "Compare checkpoints: FC/math/code accuracy, perplexity, tokenizer density; one Markdown table.",
    ),
    "draft": (
        "draft_training.cli:draft",
        "Train an EAGLE-3 draft head, measure its acceptance length offline.",
    ),
    "loadtest": (
        "loadtest.cli:loadtest",
        "Load-test speculative vs plain serving; write the report with plots.",
    ),
}

# which extra brings the packages commands import only when they run (see pyproject.toml)
EXTRAS = {
    **dict.fromkeys(
        ("fastapi", "uvicorn", "httptools", "uvloop", "aiohttp", "redis", "starlette"), "gateway"
    ),
    **dict.fromkeys(("safetensors", "psutil"), "engine"),
    **dict.fromkeys(("locust", "gevent", "matplotlib"), "loadtest"),
}
TRAIN_PACKAGES = (
    "torch transformers tokenizers accelerate datasets trl jsonschema tensorboard math_verify tiktoken gguf"
)
EXTRAS.update(dict.fromkeys([*TRAIN_PACKAGES.split(), "openai", "numpy"], "train"))
INSTALL_HINTS = {"vllm": "pip install -e '.[cpu]' for vLLM's CPU build; GPU nodes: see docs/gpu.md"}


def missing_package_message(error: ModuleNotFoundError) -> str:
    """One line naming the package a command could not import and how to install it."""
    package = (error.name or "").split(".")[0]
    if not package:
        return f"{error} (pip install -e '.[all]' installs every part's dependencies)"
    extra = EXTRAS.get(package)
    hint = INSTALL_HINTS.get(package) or (
        f"pip install 'specstack[{extra}]'"
        if extra
        else "pip install -e '.[all]' installs every part's dependencies"
    )
    return f"this command needs the '{package}' package ({hint})"


def _debug_traceback() -> None:
    if os.environ.get("SPECSTACK_DEBUG") == "1":
        traceback.print_exc()


class LazyGroup(click.Group):
    """A group whose sub-groups are imported only when used; their modules keep heavy imports inside commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(GROUPS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in GROUPS:
            return None
        module_name, attr = GROUPS[name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, summary) for name, (_, summary) in sorted(GROUPS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="specstack")
def cli() -> None:
    """specstack: adapt an LLM to Russian, train its EAGLE-3 draft, serve it speculatively, load-test it."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    try:
        cli.main(args=argv, prog_name="specstack", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except click.ClickException as e:
        hint = " (see --help)" if isinstance(e, click.UsageError) else ""
        print(f"error: {e.format_message()}{hint}", file=sys.stderr)
        return e.exit_code
    except SpecstackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        _debug_traceback()
        print(f"error: {missing_package_message(e)}", file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError) as e:
        _debug_traceback()
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
