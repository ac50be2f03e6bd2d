"""The simulator's cameras: a recorded clip (:class:`ClipSource`, shared with the daemon's file
source) and unrelated stills, each on the clip's own clock; :class:`WrappedSource`, the base of
the sources that change another's frames or pace (fault injection, pacing)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge.runtime.camera import DEFAULT_START, ClipSource, read_image
from edge.runtime.frames import Frame

__all__ = ["DEFAULT_START", "ClipSource", "StillsSource", "WrappedSource"]


class WrappedSource:
    """A source around another: what it does not change (fps, duration_s, live, ...) is the
    inner one's; subclasses override ``read``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.live = inner.live

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read(self) -> Frame | None:
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


class StillsSource:
    """Unrelated stills, each shown as a short static scene of ``repeats`` frames.

    Before each new still ``on_new_still`` is called (the runner resets the decision core there),
    so every still is judged alone, as the scoring rules ask.
    """

    live = False

    def __init__(self, files: list[Path], fps: float, repeats: int,
                 on_new_still=None, start_wall: datetime = DEFAULT_START) -> None:
        self.files = files
        self.fps = fps
        self.repeats = max(1, repeats)
        self.on_new_still = on_new_still
        self.start_wall = start_wall
        self._n = 0
        self._image = None
        self.frame_count = len(files)

    @property
    def duration_s(self) -> float:
        return len(self.files) / self.fps

    def read(self) -> Frame | None:
        still, rep = divmod(self._n, self.repeats)
        if still >= len(self.files):
            return None
        t0 = time.perf_counter()
        if rep == 0:
            if self.on_new_still is not None:
                self.on_new_still()
            self._image = read_image(self.files[still])
        self._n += 1
        # a still owns one second-slot of the clip's clock; its repeats fill the start of it
        t = (still + rep / self.repeats) / self.fps
        return Frame(self._image, t, still + 1, wall=self.start_wall + timedelta(seconds=t),
                     path=str(self.files[still]), read_ms=(time.perf_counter() - t0) * 1e3)

    def close(self) -> None:
        self._image = None
