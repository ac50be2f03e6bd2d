"""A recorded clip played at a fixed multiple of real time: fast enough for a test to see a
whole visit in seconds, slow enough for a browser and an HTTP client to watch it live (the
simulator runs as fast as the model allows; ``ClipSource(realtime=True)`` only at 1x)."""

from __future__ import annotations

import time
from typing import Any

from edge.runtime.frames import Frame
from sim.stills import WrappedSource


class PacedClip(WrappedSource):
    """Wraps a clip source (frames on the clip's clock): frame ``t`` is handed out no sooner
    than ``t / speed`` seconds after the first read."""

    def __init__(self, inner: Any, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        super().__init__(inner)
        self.speed = speed
        self._start: float | None = None

    def read(self) -> Frame | None:
        frame = self.inner.read()
        if frame is None:
            return None
        now = time.monotonic()
        if self._start is None:
            self._start = now - frame.t / self.speed
        delay = self._start + frame.t / self.speed - now
        if delay > 0:
            time.sleep(delay)
        return frame
