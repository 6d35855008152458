"""Build stamps: a stage's output directory is reused only when it was built from the same inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from specstack.io import atomic_write_json

STAMP_NAME = "specstack_build.json"


def config_hash(obj: Any) -> str:
    """A short stable hash of a JSON-serialisable object (pydantic models: pass `.model_dump()`)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def is_built(out_dir: str | Path, key: str) -> bool:
    """True when `out_dir` holds a finished build stamped with `key`."""
    stamp = Path(out_dir) / STAMP_NAME
    if not stamp.is_file():
        return False
    try:
        return json.loads(stamp.read_text()).get("key") == key
    except (OSError, json.JSONDecodeError):
        return False


def read_stamp(out_dir: str | Path) -> dict:
    """The stamp of a finished build (its key and whatever the stage recorded)."""
    return json.loads((Path(out_dir) / STAMP_NAME).read_text())


def write_stamp(out_dir: str | Path, key: str, **info: Any) -> None:
    """Mark `out_dir` as a finished build of `key`; write it last, after every other file."""
    atomic_write_json(Path(out_dir) / STAMP_NAME, {"key": key, **info})
