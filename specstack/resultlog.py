"""A resume log: finished work items appended one JSON line each, so a killed run redoes none of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any


class ResultLog:
    """`{"key", "result"}` lines appended as items finish; `done` maps key -> result of every finished item.

    Use `with ResultLog(path) as log: log.add(key, result)`. A last line cut by a kill is skipped on reading
    and closed with a newline before the next append."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.done: dict[str, Any] = self._read()
        self._file: IO[str] | None = None

    def _read(self) -> dict[str, Any]:
        done: dict[str, Any] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    done[entry["key"]] = entry["result"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a kill
        return done

    def __enter__(self) -> ResultLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        if self._file.tell() and not self.path.read_bytes().endswith(b"\n"):
            self._file.write("\n")
        return self

    def add(self, key: str, result: Any) -> None:
        """Record one finished item (flushed at once)."""
        assert self._file is not None, "use ResultLog as a context manager to append"
        self._file.write(json.dumps({"key": key, "result": result}, ensure_ascii=False) + "\n")
        self._file.flush()
        self.done[key] = result

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
