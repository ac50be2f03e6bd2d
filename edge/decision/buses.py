"""Did the bus stop? Arrivals at this stop, worked out from feed snapshots. Pure: no I/O, and
the caller's clock (``t``) is given with every call; the feed's own times (POSIX) are kept for
the record.

A vehicle is followed from the first snapshot that has it near the stop (within ``near_s``
seconds or ``near_stops`` stops) or at it. It has **stopped** when a snapshot reports it at the
stop (GTFS-realtime ``STOPPED_AT``); it has **passed** when it is beyond the stop without such
a report: its trip no longer lists the stop ahead, or it was next to the stop and is now
reported at another one. A feed without stop reports (TAGO) only tells that the bus reached the
stop: ``unknown``, left to the camera to settle. A vehicle the feed stops mentioning for
``stale_s`` (of the caller's clock) is dropped as ``unknown`` too, so a dead feed never keeps
the light's attention pattern on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge.decision.feed import Observation, Relation, Snapshot
from edge.wire import BusOutcome  # the outcome's words are the bus event's, on the wire

# (a feed without vehicle identity) a route's nearest bus predicted this much later than at
# the last poll is the next bus: the previous one has arrived (TAGO refreshes every 10-20 s,
# so a real bus's prediction never grows by a minute between two polls)
NEXT_BUS_JUMP_S = 60.0


@dataclass(frozen=True, slots=True)
class BusSettings:
    """Filled from the config's ``arrivals`` section (``edge.arrivals.build.bus_settings``)."""

    near_s: float | None  # a vehicle this many seconds away is near ...
    near_stops: int | None  # ... or this many stops (1: ours is its next stop)
    stale_s: float  # of the caller's clock without a word on a vehicle: dropped


@dataclass(frozen=True, slots=True)
class Arrival:
    """One vehicle's visit to the stop; ``outcome`` None while it is still open."""

    key: str
    stop_id: str
    trip_id: str | None
    vehicle_id: str | None
    route_id: str | None
    approached_at: float  # feed time it was first near (or at) the stop
    stopped_from: float | None = None  # feed time of the first stop report
    stopped_until: float | None = None  # feed time of the last stop report
    reached_t: float | None = None  # the caller's clock when it reached the stop (or passed)
    left_at: float | None = None  # feed time it was first seen beyond the stop
    outcome: BusOutcome | None = None
    last_t: float = 0.0  # the caller's clock of the last word on it
    last: Observation | None = None

    @property
    def dwell_s(self) -> float | None:
        if self.stopped_from is None or self.stopped_until is None:
            return None
        return max(0.0, self.stopped_until - self.stopped_from)

    @property
    def reached(self) -> bool:
        return self.reached_t is not None

    def record(self) -> dict[str, object]:
        """The arrival as ``stopsafe arrivals --json`` prints it (feed times, POSIX)."""
        return {"trip_id": self.trip_id, "vehicle_id": self.vehicle_id,
                "route_id": self.route_id, "stop_id": self.stop_id,
                "approached_at": self.approached_at,
                "outcome": None if self.outcome is None else self.outcome.value,
                "stopped_from": self.stopped_from, "stopped_until": self.stopped_until,
                "dwell_s": self.dwell_s, "left_at": self.left_at}


@dataclass(frozen=True, slots=True)
class BusChange:
    """What one call changed: vehicles that reached the stop (stopped or passed) and arrivals
    that are over."""

    reached: tuple[Arrival, ...] = ()
    closed: tuple[Arrival, ...] = ()


class BusTracker:
    """Open arrivals by vehicle key. See the module's doc."""

    def __init__(self, s: BusSettings) -> None:
        self.settings = s
        self._open: dict[str, Arrival] = {}

    @property
    def open(self) -> tuple[Arrival, ...]:
        return tuple(self._open.values())

    def approaching(self) -> tuple[Arrival, ...]:
        """Near and not yet at the stop: what the light's attention pattern is for."""
        s = self.settings
        return tuple(a for a in self._open.values() if not a.reached and a.last is not None
                     and a.last.within(s.near_s, s.near_stops))

    def observe(self, snap: Snapshot, t: float) -> BusChange:
        reached: list[Arrival] = []
        closed: list[Arrival] = []
        seen = set()
        for o in snap.observations:
            seen.add(o.key)
            a = self._open.get(o.key)
            if a is not None and not o.identity and self._next_bus(a.last, o):
                closed.append(self._close(a, BusOutcome.UNKNOWN, t, reached))
                a = None
            if a is None:
                a = self._start(o, snap, t)
                if a is None:
                    continue
            a = self._step(a, o, snap, t, reached, closed)
            if a is not None:
                self._open[o.key] = a
        for key, a in list(self._open.items()):
            # a route's nearest bus gone from the answer (TAGO) right by the stop: it arrived
            if key not in seen and a.last is not None and not a.last.identity and (
                    a.last.stops_away is not None and a.last.stops_away <= 1):
                closed.append(self._close(a, BusOutcome.UNKNOWN, t, reached))
        return BusChange(tuple(reached), tuple(closed))

    def expire(self, t: float) -> BusChange:
        """Drop the vehicles nothing was said about for ``stale_s``."""
        reached: list[Arrival] = []
        closed = [self._close(a, BusOutcome.STOPPED if a.stopped_from is not None
                              else BusOutcome.UNKNOWN, t, reached)
                  for a in list(self._open.values()) if t - a.last_t >= self.settings.stale_s]
        return BusChange(tuple(reached), tuple(closed))

    def close_all(self, t: float) -> BusChange:
        """The end (of a replay, of the feed): what stopped is over; the rest is not counted."""
        reached: list[Arrival] = []
        closed = [self._close(a, BusOutcome.STOPPED, t, reached)
                  for a in list(self._open.values()) if a.stopped_from is not None]
        self._open.clear()
        return BusChange(tuple(reached), tuple(closed))

    # ---------------- inside ----------------
    def _next_bus(self, last: Observation | None, o: Observation) -> bool:
        if last is None or o.relation is not Relation.APPROACHING:
            return False
        farther = (o.stops_away is not None and last.stops_away is not None
                   and o.stops_away > last.stops_away)
        later = (o.eta_s is not None and last.eta_s is not None
                 and o.eta_s > last.eta_s + NEXT_BUS_JUMP_S)
        return farther or later

    def _start(self, o: Observation, snap: Snapshot, t: float) -> Arrival | None:
        s = self.settings
        if o.relation is Relation.AT_STOP or o.within(s.near_s, s.near_stops):
            return Arrival(key=o.key, stop_id=snap.stop_id, trip_id=o.trip_id,
                           vehicle_id=o.vehicle_id, route_id=o.route_id,
                           approached_at=snap.at, last_t=t)
        return None

    def _step(self, a: Arrival, o: Observation, snap: Snapshot, t: float,
              reached: list[Arrival], closed: list[Arrival]) -> Arrival | None:
        if o.relation is Relation.AT_STOP:
            at = o.reported_at if o.reported_at is not None else snap.at
            a = replace(a, stopped_from=a.stopped_from if a.stopped_from is not None else at,
                        stopped_until=max(snap.at, at), last_t=t, last=o)
            if a.reached_t is None:
                a = replace(a, reached_t=t)
                reached.append(a)
            return a
        beyond = o.relation is Relation.PAST or (
            o.relation is Relation.ELSEWHERE and a.last is not None and (
                a.last.relation is Relation.AT_STOP or a.last.stops_away == 1))
        if beyond:
            outcome = BusOutcome.STOPPED if a.stopped_from is not None else BusOutcome.PASSED
            closed.append(self._close(replace(a, left_at=snap.at), outcome, t, reached))
            return None
        if o.relation is Relation.APPROACHING:
            return replace(a, last_t=t, last=o, trip_id=a.trip_id or o.trip_id)
        return replace(a, last_t=t)  # elsewhere, still before the stop as far as is known

    def _close(self, a: Arrival, outcome: BusOutcome, t: float,
               reached: list[Arrival]) -> Arrival:
        self._open.pop(a.key, None)
        # a feed without identity (TAGO) cannot say stopped or passed, but the bus did come
        came = outcome is not BusOutcome.UNKNOWN or (a.last is not None and not a.last.identity)
        if a.reached_t is None and came:
            a = replace(a, reached_t=t)
            reached.append(a)
        return replace(a, outcome=outcome)
