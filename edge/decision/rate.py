"""Adaptive processing rate: when the detector needs to look, from the scene's state. Pure.

Idle (nobody tracked, no motion): a slow rate, a safety net for arrivals that the motion
detector misses. Motion, anyone in the zone who is not yet waiting, anyone walking in or near it,
or a person in the zone the detector just missed: the full rate, so arrivals are confirmed,
dwell is timed closely and leaving is seen. Everyone in the zone waiting and standing (or the
light holding): a middle rate; the hold and the tracker's coasting give slack, and a person who
stands still is re-detected at this rate, so they never time out for lack of motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edge.decision.controller import StopState


class RateState(str, Enum):
    IDLE = "idle"
    FULL = "full"
    WATCH = "watch"


MOVING_SPEED = 0.3  # box heights a second: above it a person is walking, not standing


@dataclass(frozen=True, slots=True)
class RateSettings:
    full_fps: float
    idle_fps: float
    watch_fps: float
    near: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # zone's box plus a margin


class RateGovernor:
    def __init__(self, s: RateSettings) -> None:
        self.s = s
        self.last_detect: float | None = None
        self.state = RateState.FULL

    def reset(self) -> None:
        self.last_detect = None
        self.state = RateState.FULL

    def classify(self, last: StopState | None, motion: bool) -> RateState:
        if last is None or last.tentative:
            return RateState.FULL
        # people elsewhere do not matter, nor static objects (they are not people)
        present = [p for p in last.people if p.in_zone and not p.static]
        if any(not p.waiting for p in present):
            return RateState.FULL  # an arrival: confirm it and time the dwell closely
        if any(p.misses for p in present):
            return RateState.FULL  # someone present was not found: found again, or gone?
        x1, y1, x2, y2 = self.s.near
        if any(p.speed > MOVING_SPEED and (p.in_zone or (x1 <= p.point[0] <= x2
                                                         and y1 <= p.point[1] <= y2))
               for p in last.people):
            return RateState.FULL  # someone walking in or near the zone: arriving or leaving
        if motion:
            return RateState.FULL
        if present or last.light:
            return RateState.WATCH
        return RateState.IDLE

    def should_detect(self, now: float, last: StopState | None, motion: bool) -> bool:
        """Whether to run the detector on the frame at ``now``."""
        self.state = self.classify(last, motion)
        fps = {RateState.FULL: self.s.full_fps, RateState.IDLE: self.s.idle_fps,
               RateState.WATCH: self.s.watch_fps}[self.state]
        if self.last_detect is None or now - self.last_detect >= 1.0 / fps - 1e-6:
            self.last_detect = now
            return True
        return False
