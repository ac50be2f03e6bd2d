"""Scripted stand-ins for the edges that cannot run here (a camera device, a detector on a
scene you invent), and :func:`scripted_stop`, the real stop assembled on them.

Everything else is real: the controller, the pipeline, gpiozero's mock pin factory as the relay,
the fault registry, and the MQTT service when the config enables it. Tests use these instead of
wiring pipelines by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from detector.base import Detection, DetectorResult
from edge.config import Config
from edge.runtime.assembly import Stop, assemble
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


class RealtimeSource:
    """Frames at the real monotonic clock, ``fps`` a second, for ``duration_s`` (then the end):
    for tests where another thread runs on real time too (the arrivals poller, a button)."""

    live = True

    def __init__(self, fps: float = 20.0, duration_s: float = 3600.0) -> None:
        import time

        self.fps, self._time = fps, time
        self.end = time.monotonic() + duration_s
        self.frames = 0
        self.t = time.monotonic()  # the time of the last frame (ScriptedDetector's clock)

    def read(self) -> Frame | None:
        self._time.sleep(1.0 / self.fps)
        self.t = self._time.monotonic()
        if self.t >= self.end:
            return None
        self.frames += 1
        return Frame(IMAGE, self.t, self.frames, wall=datetime(2026, 1, 5, 12, 0))

    def close(self) -> None:
        pass


class ScriptedDetector:
    """``people(t)`` -> detections at the clock's time (``buses(t)``: boxes of the bus class);
    raises while ``failing(t)``."""

    def __init__(self, clock: FakeClock | RealtimeSource,
                 people: Callable[[float], list[Detection]],
                 failing: Callable[[float], bool] = lambda t: False,
                 buses: Callable[[float], list[Detection]] = lambda t: []) -> None:
        self.clock, self.people, self.failing, self.buses = clock, people, failing, buses

    def __call__(self, image: np.ndarray) -> DetectorResult:
        if self.failing(self.clock.t):
            raise RuntimeError("interpreter invoke failed")
        return DetectorResult(self.people(self.clock.t), buses=self.buses(self.clock.t))


def scripted_stop(cfg: Config, source: object, detect: Callable[[np.ndarray], DetectorResult],
                  clock: Callable[[], float], *, sinks: Sequence[object] = (),
                  mqtt: object = None, loader: Callable[[], Config] | None = None,
                  health: bool = False, gate: bool = False, wall: Callable[[], datetime] | None
                  = None, light: object = None) -> Stop:
    """The daemon's stop on a scripted source and detector, with gpiozero's mock relay (unless
    ``light`` is given); the fail-safe's blind clock starts at ``clock()``."""
    return assemble(cfg, source, detect=detect, light=light, sinks=sinks,  # type: ignore[arg-type]
                    mqtt=mqtt, loader=loader, clock=clock, start=clock(),  # type: ignore[arg-type]
                    wall=wall or (lambda: datetime(2026, 1, 5, 12, 0)), health=health,
                    gate=gate, pin_factory="mock")
