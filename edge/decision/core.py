"""The scene: detections and the time in; who is there, who is waiting, and the automatic light.

Pure: no I/O and no clock of its own. The caller (only the stop controller,
``edge/decision/controller.py``) passes a monotonic time for every frame, so tests script it and
the simulator uses the clip's clock. Manual modes, operating hours and the fail-safe are not
decided here but in the controller, over what this says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detector.base import Detection
from edge.decision.dwell import DwellTimer
from edge.decision.light_rules import LightDecision, LightRules
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
    light: LightDecision  # the automatic light (the controller may overrule it)
    people: tuple[PersonState, ...]
    tentative: bool = False  # someone is tracked but not yet confirmed (an arrival?)
    static_objects: tuple[Detection, ...] = ()  # static tracks in the zone (their boxes)
    light_max_on: bool = False  # light.max_on_s cut the light; off until the scene changes

    @property
    def occupied(self) -> bool:
        return self.occupancy > 0


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """A plain container: filled in one place (``edge.runtime.assembly.core_settings``) from
    the config's sections, where every default is written."""

    zone: Sequence[Sequence[float]]
    dwell_s: float
    hold_s: float
    min_on_s: float
    max_missed_s: float
    match_distance: float
    confirm_hits: int
    leave_grace_s: float
    masks: Sequence[Sequence[Sequence[float]]]  # detections standing in these never count
    static: StaticSettings | None  # None: nothing is ever a static object
    max_on_s: float | None


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

    def retune(self, s: CoreSettings) -> None:
        """New zone, timings and tracker settings without forgetting who is there or what the
        light does (a config reload)."""
        self.settings = s
        self.zone = Zone(s.zone)
        self.dwell.zone = self.zone
        self.dwell.dwell_s = s.dwell_s
        self.dwell.leave_grace_s = s.leave_grace_s
        self.tracker.max_missed_s = s.max_missed_s
        self.tracker.match_distance = s.match_distance
        self.tracker.confirm_hits = s.confirm_hits
        self.rules.hold_s = s.hold_s
        self.rules.min_on_s = s.min_on_s
        self.rules.max_on_s = s.max_on_s
        self.masks = [Zone(m) for m in s.masks]
        if s.static is None:
            self.static = None
        elif self.static is None:
            self.static = StaticWatch(s.static)
        else:
            self.static.settings = s.static  # the places (how long each has been still) stay

    def shift(self, dt: float) -> None:
        """Let ``dt`` seconds pass unseen (the camera was blind): every remembered time moves
        forward by it, so dwell, coasting and hold resume where they were. A manual mode's
        expiry is the controller's and does not move."""
        for t in self.tracker.tracks:
            t.first_seen += dt
            t.last_seen += dt
        self.dwell.shift(dt)
        if self.static is not None:
            self.static.shift(dt)
        if self.last_waiting_seen is not None:
            self.last_waiting_seen += dt
        self.rules.shift(dt)

    def unmasked(self, detections: Sequence[Detection]) -> list[Detection]:
        """Detections whose standing point is in no mask (the same rule as the zone's: a
        poster's person stands on the wall, a real person in front of it on the floor)."""
        if not self.masks:
            return list(detections)
        return [d for d in detections if not any(m.contains(d.bottom_centre) for m in self.masks)]

    def observe(self, detections: list[Detection], now: float,
                low: Sequence[Detection] = (), lit: bool = False) -> None:
        """Take a detector result: ``detections`` at or above the confirming threshold and
        ``low`` ones above the floor; masks, tracking, dwell and static objects (the pipeline
        times this as 'track'). ``lit``: the stop's own light was on when the frame was
        taken (a static thing looks different in it)."""
        tracks = self.tracker.update(self.unmasked(detections), now, self.unmasked(low))
        self.dwell.update(tracks, now)
        if self.static is not None:
            self.static.update(tracks, now, lit)
            for track_id in self.static.left:  # a static thing's track taken by someone else
                self.dwell.restart(track_id, now)
        self._fresh = True

    def decide(self, now: float) -> Decision:
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
        light = self.rules.update(now, len(waiting), self.last_waiting_seen,
                                  frozenset(p.id for p in waiting))
        return Decision(
            t=now,
            occupancy=sum(p.in_zone and not p.static for p in people),
            waiting=len(waiting),
            light=light,
            people=people,
            tentative=any(not self.tracker.confirmed(t) for t in self.tracker.tracks),
            static_objects=tuple(p.box for p in people if p.static and p.in_zone),
            light_max_on=self.rules.blocked is not None,
        )

    def update(self, detections: list[Detection], now: float,
               low: Sequence[Detection] = ()) -> Decision:
        """One frame with a detector result: observe, then decide."""
        self.observe(detections, now, low)
        return self.decide(now)

    def _person(self, t: Track, now: float, fresh: bool) -> PersonState:
        static = self.static is not None and self.static.is_static(t, now)
        return PersonState(
            id=t.id, box=t.box, point=t.point, seen_now=t.seen_now and fresh, misses=t.misses,
            speed=(t.velocity[0] ** 2 + t.velocity[1] ** 2) ** 0.5 / max(t.box.height, 1e-3),
            in_zone=self.dwell.in_zone(t), dwell_s=self.dwell.dwell(t, now),
            waiting=self.dwell.waiting(t, now) and not static, static=static,
            still_s=self.static.unchanged_s(t, now) if self.static is not None else 0.0,
        )
