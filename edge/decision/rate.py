"""Adaptive processing rate: when the detector needs to look, from the scene's state. Pure.

Idle (nobody tracked, no motion): a slow rate, a safety net for arrivals that the motion
detector misses. Motion, or anyone tracked who is not yet waiting: the full rate, so arrivals are
confirmed and dwell is timed closely. Everyone tracked is waiting (or the light is holding): a
middle rate; the hold and the tracker's coasting give slack, and a person who stands still is
re-detected at this rate, so they never time out for lack of motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edge.decision.core import Decision


class RateState(str, Enum):
    IDLE = "idle"
    FULL = "full"
    WATCH = "watch"


@dataclass(frozen=True, slots=True)
class RateSettings:
    full_fps: float
    idle_fps: float
    watch_fps: float


class RateGovernor:
    def __init__(self, s: RateSettings) -> None:
        self.s = s
        self.last_detect: float | None = None
        self.state = RateState.FULL

    def reset(self) -> None:
        self.last_detect = None
        self.state = RateState.FULL

    def classify(self, last: Decision | None, motion: bool, tentative: bool) -> RateState:
        if last is None or tentative:
            return RateState.FULL
        settling = any(not p.waiting for p in last.people if p.in_zone or p.seen_now)
        if settling:
            return RateState.FULL
        if any(p.misses for p in last.people):
            # someone tracked was not found: look closely until they are found or gone
            return RateState.FULL
        if motion:
            return RateState.FULL
        if last.waiting or last.light.on or last.people:
            return RateState.WATCH
        return RateState.IDLE

    def should_detect(self, now: float, last: Decision | None, motion: bool,
                      tentative: bool) -> bool:
        """Whether to run the detector on the frame at ``now``."""
        self.state = self.classify(last, motion, tentative)
        fps = {RateState.FULL: self.s.full_fps, RateState.IDLE: self.s.idle_fps,
               RateState.WATCH: self.s.watch_fps}[self.state]
        if self.last_detect is None or now - self.last_detect >= 1.0 / fps - 1e-6:
            self.last_detect = now
            return True
        return False
