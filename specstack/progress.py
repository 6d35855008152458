"""The progress bar every long-running command shows (rich), with plain 10% lines when not on a terminal."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Progress(Progress):
    """Rich progress that, when stderr is not a terminal (CI logs), prints a plain line every 10%."""

    def __init__(self, *columns, **kwargs) -> None:
        super().__init__(*columns, **kwargs)
        self._logged_decile: dict[TaskID, int] = {}

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        if self.console.is_terminal or self.disable:
            return
        task = self._tasks[task_id]
        if not task.total:
            return
        decile = int(10 * task.completed / task.total)
        if decile > self._logged_decile.get(task_id, -1):
            self._logged_decile[task_id] = decile
            status = task.fields.get("status", "")
            print(
                f"{task.description}: {task.completed:.0f}/{task.total:.0f} "
                f"({task.elapsed or 0:.0f}s) {status}",
                file=sys.stderr,
                flush=True,
            )


def progress_bar(disable: bool | None = None) -> Progress:
    """A progress bar with counts, elapsed and remaining time, and a free-form `status` field.

    SPECSTACK_NO_PROGRESS=1 silences it (tests); off a terminal it logs a line every 10%.
    """
    if disable is None:
        disable = os.environ.get("SPECSTACK_NO_PROGRESS") == "1"
    return _Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        disable=disable,
    )
