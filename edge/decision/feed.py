"""The one data type every arrivals adapter (``edge/arrivals/``) produces: what a feed says
about one vehicle and this stop at one moment (pure data; the core reads it).

Times are the feed's own (POSIX seconds). ``stops_away`` counts the stops the vehicle still has
to reach, ours included: 0 at the stop, 1 when ours is its next stop (TAGO's
``arrprevstationcnt`` counts the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Relation(str, Enum):
    """Where a vehicle is against this stop, as far as one snapshot tells."""

    APPROACHING = "approaching"  # this stop is still ahead of it (with eta_s / stops_away)
    AT_STOP = "at_stop"  # reported stopped at this stop
    PAST = "past"  # its trip no longer has this stop ahead (it went by or served it)
    ELSEWHERE = "elsewhere"  # seen, at another stop; one snapshot cannot say before or after


class FeedKind(str, Enum):
    GTFS_RT = "gtfs_rt"  # GTFS-realtime FeedMessage, protobuf (or its JSON rendering)
    TAGO = "tago"  # the Korean national TAGO bus-arrival service's JSON
    SEOUL = "seoul"  # Seoul's bus-arrival service (ws.bus.go.kr), JSON or XML


@dataclass(frozen=True, slots=True)
class Observation:
    """One vehicle in one snapshot, as it relates to this stop."""

    key: str  # the vehicle's identity across snapshots (vehicle id, else trip id, else route)
    relation: Relation
    trip_id: str | None = None
    vehicle_id: str | None = None
    route_id: str | None = None
    eta_s: float | None = None  # predicted seconds to this stop, from the snapshot's time
    stops_away: int | None = None
    reported_at: float | None = None  # the vehicle's own report time, when the feed gives one
    stop_id: str | None = None  # where the vehicle is (ELSEWHERE), or this stop
    # False when the feed has no vehicle identity (TAGO: the nearest bus of a route): a key
    # whose vehicle comes back farther away is the next bus, the previous one has arrived
    identity: bool = True

    def within(self, seconds: float | None, stops: int | None) -> bool:
        """Approaching and within ``seconds`` or ``stops`` (either limit may be None)."""
        if self.relation is not Relation.APPROACHING:
            return False
        by_time = seconds is not None and self.eta_s is not None and self.eta_s <= seconds
        by_stops = stops is not None and self.stops_away is not None and self.stops_away <= stops
        return by_time or by_stops


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one poll (or one recorded file) said about the stop's vehicles."""

    at: float  # the feed's time of this snapshot (POSIX seconds)
    stop_id: str
    observations: tuple[Observation, ...] = ()
    kind: FeedKind = FeedKind.GTFS_RT

    def related(self) -> tuple[Observation, ...]:
        """The vehicles that have this stop ahead or are at it."""
        return tuple(o for o in self.observations
                     if o.relation in (Relation.APPROACHING, Relation.AT_STOP))
