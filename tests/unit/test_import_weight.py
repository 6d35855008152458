"""What importing a part loads: the gateway, the engine launchers and the load test must not pull in torch,
the trainers or another part (a gateway image installs none of them: `pip install specstack[gateway]`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "trl", "datasets", "vllm", "adaptation", "draft_training", "specstack.demo")


@pytest.mark.parametrize(
    "module",
    ["serving.gateway.cli", "serving.gateway.app", "serving.engines", "loadtest.runner", "loadtest.cli"],
)
def test_a_part_imports_nothing_heavy(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert not [h for h in HEAVY if h in loaded], f"import {module} loads {[h for h in HEAVY if h in loaded]}"
