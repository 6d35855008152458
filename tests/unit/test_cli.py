"""The console script: --help everywhere, one-line errors and non-zero exits, never a traceback."""

import importlib
import subprocess
import sys
from pathlib import Path

import click
import pytest

from specstack.cli import GROUPS, cli, main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "specstack.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def all_commands() -> list[list[str]]:
    """Every command path of the CLI tree, e.g. ['demo', 'corpus']."""
    paths: list[list[str]] = []
    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            paths.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(cli, [])
    return paths


def test_every_group_is_registered_and_importable() -> None:
    names = {path[0] for path in all_commands()}
    assert names == set(GROUPS)


@pytest.mark.parametrize("path", [[], *all_commands()], ids=lambda p: " ".join(p) or "specstack")
def test_help_everywhere(path: list[str]) -> None:
    result = run_cli(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_unknown_command_is_one_line() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "No such command" in result.stderr


def test_missing_config_file_is_one_line() -> None:
    result = run_cli("demo", "corpus", "--config", "nope.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: nope.yaml: no such config file"


def test_bad_config_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("demo:\n  corpus:\n    sft_trian: 3\n")
    result = run_cli("demo", "corpus", "--config", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {bad}: demo.corpus.sft_trian: unknown key"


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and "specstack" in result.stdout


@click.command()
@click.argument("module")
def imports_module(module: str) -> None:
    """Imports MODULE when it runs, as commands with optional packages do."""
    importlib.import_module(module)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("vllm", "'vllm' package (pip install -e '.[cpu]' for vLLM's CPU build; GPU nodes: see docs/gpu.md)"),
        ("gguf.quants", "'gguf' package (pip install 'specstack[train]')"),
        ("fastapi", "'fastapi' package (pip install 'specstack[gateway]')"),
    ],
)
def test_missing_package_is_one_line_naming_it(monkeypatch, capsys, module: str, expected: str) -> None:
    for name in {module, module.split(".")[0]}:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails as if it were not installed
    monkeypatch.setitem(GROUPS, "imports", (f"{__name__}:imports_module", "Imports a module."))
    assert main(["imports", module]) == 1
    assert capsys.readouterr().err == f"error: this command needs the {expected}\n"
