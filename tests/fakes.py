"""Scripted stand-ins for the pipeline's edges: a clock, a camera that can fail, a detector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np

from detector.base import Detection, DetectorResult
from edge.runtime.frames import CameraError, Frame

IMAGE = np.full((48, 64, 3), 128, np.uint8)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class ScriptedSource:
    """``script(i)`` per read: 'frame', 'lost' (CameraError, as a silent camera does after its
    timeout) or 'end'. Each read advances the clock by ``dt`` ('lost' by ``timeout_s``)."""

    live = True

    def __init__(self, script: Callable[[int], str], clock: FakeClock, dt: float = 0.2,
                 timeout_s: float = 2.0, fps: float = 1000.0) -> None:
        self.script, self.clock, self.dt, self.timeout_s = script, clock, dt, timeout_s
        self.fps = fps  # the pipeline's wait after a failing detector: keep tests fast
        self.i = 0
        self.frames = 0

    def read(self) -> Frame | None:
        what = self.script(self.i)
        self.i += 1
        if what == "end":
            return None
        if what == "lost":
            self.clock.t += self.timeout_s
            raise CameraError(f"no frame from fake for {self.timeout_s:.0f} s")
        self.clock.t += self.dt
        self.frames += 1
        return Frame(IMAGE, self.clock.t, self.frames, wall=datetime(2026, 1, 5, 12, 0))

    def close(self) -> None:
        pass


class ScriptedDetector:
    """``people(t)`` -> detections at the clock's time; raises while ``failing(t)``."""

    def __init__(self, clock: FakeClock, people: Callable[[float], list[Detection]],
                 failing: Callable[[float], bool] = lambda t: False) -> None:
        self.clock, self.people, self.failing = clock, people, failing

    def __call__(self, image: np.ndarray) -> DetectorResult:
        if self.failing(self.clock.t):
            raise RuntimeError("interpreter invoke failed")
        return DetectorResult(self.people(self.clock.t))
