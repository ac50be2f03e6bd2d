"""Progress bars for the long runs (``sim`` on a long clip, ``soak``, ``bench``), on a terminal
only: in a log, a pipe or CI they print nothing at all. A bar is moved by a pipeline sink, so the
run itself does not know it is watched; it disappears when the run ends, leaving the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from edge.runtime.pipeline import StopRecord


@contextmanager
def terminal_progress(console: Console) -> Iterator[Progress | None]:
    """A live progress display on ``console`` when it is a terminal, else None."""
    if not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.fields[done]}"), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as progress:
        yield progress


@dataclass
class ProgressSink:
    """A pipeline sink that sets a bar to where the run is: ``position(record)`` out of the
    task's total (clip seconds for a clip, wall seconds for a soak)."""

    progress: Progress | None
    task: TaskID | None
    position: Callable[[StopRecord], float | None]
    unit: str = "s"

    def on_record(self, r: StopRecord) -> None:
        if self.progress is None or self.task is None:
            return
        at = self.position(r)
        if at is None:
            return
        total = self.progress.tasks[self.task].total or 0.0
        digits = 1 if total < 100 else 0
        self.progress.update(self.task, completed=min(at, total),
                             done=f"{min(at, total):.{digits}f}/{total:.{digits}f} {self.unit}")

    def close(self) -> None:
        pass

    def done(self) -> None:
        """Take the bar away (the next run gets its own)."""
        if self.progress is not None and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None


def clip_bar(progress: Progress | None, name: str, clip_s: float) -> ProgressSink:
    """A bar over a clip's own time (the frames' times, however fast they are played)."""
    task = (progress.add_task(name, total=max(clip_s, 1e-3), done="")
            if progress is not None else None)
    return ProgressSink(progress, task, lambda r: r.frame.t if r.frame is not None else None,
                        "s of clip")


def wall_bar(progress: Progress | None, name: str, seconds: float) -> ProgressSink:
    """A bar over wall-clock time (a soak runs for minutes, looping its clip)."""
    t0 = time.monotonic()
    task = (progress.add_task(name, total=max(seconds, 1e-3), done="")
            if progress is not None else None)
    return ProgressSink(progress, task, lambda _r: time.monotonic() - t0, "s")
