"""Adaptive processing rate: when the detector needs to look, from the scene's state. Pure.

Idle (nobody tracked, nothing changed): a slow rate, and at least ``looks_per_dwell`` looks
during one ``dwell_s``, so a person nobody saw arrive is still found well inside the dwell.
Full rate: motion, a new (unconfirmed) track, anyone in the zone who is not yet waiting, anyone
walking in or near it, or a person in the zone the detector just missed; and, while the light is
off, a scene that changed since the detector last looked, or a box just under the detector's
threshold near the zone. While the light is off it also stays at the full rate for
``after_change_s`` after the last of these, because a person who steps in and then stands still
(in a dark doorway, say) stops moving long before a weak detector has found them twice in a row.
With the light on, a second arrival does not change the light, so these do not cost a window.
Everyone in the zone waiting and standing (or the light holding): a middle rate; the hold and
the tracker's coasting give slack, and a person who stands still is re-detected at this rate,
so they never time out for lack of motion.
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
    near: tuple[float, float, float, float]  # zone's box plus a margin
    after_change_s: float  # full rate for this long after the last change in the scene
    dwell_s: float | None  # with looks_per_dwell: the longest idle gap between looks
    looks_per_dwell: int

    def is_near(self, point: tuple[float, float]) -> bool:
        x1, y1, x2, y2 = self.near
        return x1 <= point[0] <= x2 and y1 <= point[1] <= y2

    @property
    def idle_interval(self) -> float:
        """Seconds between looks at an empty, still scene."""
        gap = 1.0 / self.idle_fps
        if self.dwell_s is not None:
            gap = min(gap, self.dwell_s / self.looks_per_dwell)
        return max(gap, 1.0 / self.full_fps)


@dataclass(frozen=True, slots=True)
class RateInput:
    """What the governor is told about a frame, before the detector would run on it."""

    state: StopState | None  # the stop as last decided (None: nothing decided yet)
    motion: bool = False  # the watched area changed since the previous frame
    changed: bool = False  # the watched area changed since the detector last looked at it
    low_score: bool = False  # the last run saw a box under the threshold near the zone


class RateGovernor:
    def __init__(self, s: RateSettings) -> None:
        self.s = s
        self.last_detect: float | None = None
        self.full_until: float | None = None
        self.state = RateState.FULL

    def reset(self) -> None:
        self.last_detect = None
        self.full_until = None
        self.state = RateState.FULL

    def classify(self, now: float, inp: RateInput) -> RateState:
        last = inp.state
        tentative = last is not None and last.tentative  # a track not confirmed yet
        dark = last is None or not last.light
        if dark and (inp.motion or inp.changed or tentative or inp.low_score):
            # a change, or a hint of someone (a new track, a weak box), while the light is off:
            # look closely a while. (With the light on, a second arrival does not change it.)
            self.full_until = now + self.s.after_change_s
        if last is None or tentative or (dark and inp.low_score):
            return RateState.FULL  # something that may be a person: look until it is settled
        # people elsewhere do not matter, nor static objects (they are not people)
        present = [p for p in last.people if p.in_zone and not p.static]
        if any(not p.waiting for p in present):
            return RateState.FULL  # an arrival: confirm it and time the dwell closely
        if any(p.misses for p in present):
            return RateState.FULL  # someone present was not found: found again, or gone?
        if any(p.speed > MOVING_SPEED and (p.in_zone or self.s.is_near(p.point))
               for p in last.people):
            return RateState.FULL  # someone walking in or near the zone: arriving or leaving
        if inp.motion or (dark and inp.changed):
            return RateState.FULL
        if dark and self.full_until is not None and now < self.full_until - 1e-6:
            return RateState.FULL  # a change a moment ago: someone may have stopped unseen
        if present or last.light:
            return RateState.WATCH
        return RateState.IDLE

    def should_detect(self, now: float, inp: RateInput) -> bool:
        """Whether to run the detector on the frame at ``now``."""
        self.state = self.classify(now, inp)
        gap = {RateState.FULL: 1.0 / self.s.full_fps, RateState.IDLE: self.s.idle_interval,
               RateState.WATCH: 1.0 / self.s.watch_fps}[self.state]
        if self.last_detect is None or now - self.last_detect >= gap - 1e-6:
            self.last_detect = now
            return True
        return False
