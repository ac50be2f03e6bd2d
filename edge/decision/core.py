"""The decision core: detections and the time in, occupancy, waiting count and light out.

Pure: no I/O and no clock of its own. The caller passes a monotonic time for every frame and the
local wall time for the schedule, so tests script both and the simulator uses the clip's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from detector.base import Detection
from edge.decision.dwell import DwellTimer
from edge.decision.light_rules import LightDecision, LightMode, LightRules
from edge.decision.schedule import WindowLike, in_service
from edge.decision.static import StaticSettings, StaticWatch
from edge.decision.tracker import Track, Tracker
from edge.decision.zones import Zone


@dataclass(frozen=True, slots=True)
class PersonState:
    id: int
    box: Detection
    point: tuple[float, float]
    seen_now: bool  # matched by a detection on this very frame
    misses: int  # detector runs since last matched
    speed: float  # of the standing point, in box heights a second (walking is about 0.8)
    in_zone: bool
    dwell_s: float
    waiting: bool  # waiting, and not a static object
    static: bool = False  # box and picture unchanged for static.after_s: not a person
    still_s: float = 0.0  # how long its box and picture have stayed unchanged (static rule)


@dataclass(frozen=True, slots=True)
class Decision:
    t: float
    occupancy: int  # confirmed people in the zone now
    waiting: int  # of those, people whose stay has lasted dwell_s
    light: LightDecision
    mode: LightMode
    in_service: bool
    people: tuple[PersonState, ...]
    static_objects: tuple[Detection, ...] = ()  # static tracks in the zone (their boxes)
    light_max_on: bool = False  # light.max_on_s cut the light; off until the scene changes

    @property
    def occupied(self) -> bool:
        return self.occupancy > 0


@dataclass(frozen=True, slots=True)
class CoreSettings:
    zone: Sequence[Sequence[float]]
    dwell_s: float
    hold_s: float
    min_on_s: float = 0.0
    max_missed_s: float = 2.0
    match_distance: float = 1.0
    confirm_hits: int = 2
    leave_grace_s: float = 1.0
    windows: Sequence[WindowLike] = ()
    masks: Sequence[Sequence[Sequence[float]]] = ()  # detections standing in these never count
    static: StaticSettings | None = None  # None: nothing is ever a static object
    max_on_s: float | None = None


class DecisionCore:
    def __init__(self, s: CoreSettings) -> None:
        self.settings = s
        self.zone = Zone(s.zone)
        self.masks = [Zone(m) for m in s.masks]
        self.tracker = Tracker(s.max_missed_s, s.match_distance, s.confirm_hits)
        self.dwell = DwellTimer(self.zone, s.dwell_s, s.leave_grace_s)
        self.static = StaticWatch(s.static) if s.static is not None else None
        self.rules = LightRules(s.hold_s, s.min_on_s, s.max_on_s)
        self.last_waiting_seen: float | None = None
        self._fresh = False

    def reset(self) -> None:
        """Forget everyone (a new scene); the light rules start over too."""
        self.tracker.reset()
        self.dwell.reset()
        if self.static is not None:
            self.static.reset()
        self.rules.reset()
        self.last_waiting_seen = None

    def shift(self, dt: float) -> None:
        """Let ``dt`` seconds pass unseen (the camera was blind): every remembered time moves
        forward by it, so dwell, coasting and hold resume where they were. A manual mode's
        expiry is wall time and does not move."""
        for t in self.tracker.tracks:
            t.first_seen += dt
            t.last_seen += dt
        self.dwell.shift(dt)
        if self.static is not None:
            self.static.shift(dt)
        if self.last_waiting_seen is not None:
            self.last_waiting_seen += dt
        if self.rules.on_since is not None:
            self.rules.on_since += dt

    def unmasked(self, detections: Sequence[Detection]) -> list[Detection]:
        """Detections whose standing point is in no mask (the same rule as the zone's: a
        poster's person stands on the wall, a real person in front of it on the floor)."""
        if not self.masks:
            return list(detections)
        return [d for d in detections if not any(m.contains(d.bottom_centre) for m in self.masks)]

    def observe(self, detections: list[Detection], now: float,
                low: Sequence[Detection] = ()) -> None:
        """Take a detector result: ``detections`` at or above the confirming threshold and
        ``low`` ones above the floor; masks, tracking, dwell and static objects (the pipeline
        times this as 'track')."""
        tracks = self.tracker.update(self.unmasked(detections), now, self.unmasked(low))
        self.dwell.update(tracks, now)
        if self.static is not None:
            self.static.update(tracks, now)
        self._fresh = True

    def decide(self, now: float, local: datetime | None) -> Decision:
        """Who is waiting and what the light does now, from what was last observed.

        Called after :meth:`observe`, or alone on frames the detector skipped (adaptive rate):
        then dwell times still advance with ``now`` but nobody counts as freshly seen.
        """
        fresh, self._fresh = self._fresh, False
        people = tuple(self._person(t, now, fresh) for t in self.tracker.tracks
                       if self.tracker.confirmed(t))
        waiting = [p for p in people if p.waiting]
        if any(p.seen_now for p in waiting):
            self.last_waiting_seen = now
        service = True if local is None else in_service(self.settings.windows, local)
        light = self.rules.update(now, len(waiting), self.last_waiting_seen, service,
                                  frozenset(p.id for p in waiting))
        return Decision(
            t=now,
            occupancy=sum(p.in_zone and not p.static for p in people),
            waiting=len(waiting),
            light=light,
            mode=self.rules.mode,
            in_service=service,
            people=people,
            static_objects=tuple(p.box for p in people if p.static and p.in_zone),
            light_max_on=self.rules.blocked is not None,
        )

    def update(self, detections: list[Detection], now: float, local: datetime | None,
               low: Sequence[Detection] = ()) -> Decision:
        """One frame with a detector result: observe, then decide."""
        self.observe(detections, now, low)
        return self.decide(now, local)

    def _person(self, t: Track, now: float, fresh: bool) -> PersonState:
        static = self.static is not None and self.static.is_static(t, now)
        return PersonState(
            id=t.id, box=t.box, point=t.point, seen_now=t.seen_now and fresh, misses=t.misses,
            speed=(t.velocity[0] ** 2 + t.velocity[1] ** 2) ** 0.5 / max(t.box.height, 1e-3),
            in_zone=self.dwell.in_zone(t), dwell_s=self.dwell.dwell(t, now),
            waiting=self.dwell.waiting(t, now) and not static, static=static,
            still_s=self.static.unchanged_s(t, now) if self.static is not None else 0.0,
        )
