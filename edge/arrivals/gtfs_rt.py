"""GTFS-realtime adapter: FeedMessages (VehiclePositions and TripUpdates, protobuf or the JSON
rendering some agencies publish) to one :class:`Snapshot` for this stop.

The bindings are Google's own (``gtfs-realtime-bindings``); only what a feed says about the stop
is read. A VehiclePosition whose ``stop_id`` is this stop says ``STOPPED_AT`` (at the stop) or
``INCOMING_AT``/``IN_TRANSIT_TO`` (next stop). A TripUpdate that lists this stop among its stop
time updates has it ahead (predicted time, stops before it); one whose updates no longer list it
has gone by it. VehiclePositions and TripUpdates of one moment may come in one message (NYCT)
or two (Sound Transit, two URLs): they are merged by trip.

Not decided here: whether a vehicle that went by had stopped (``edge/decision/buses.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from edge.decision.feed import FeedKind, Observation, Relation, Snapshot

VP = rt.VehiclePosition
STU = rt.TripUpdate.StopTimeUpdate
_APPROACH = {VP.INCOMING_AT, VP.IN_TRANSIT_TO}


class FeedError(ValueError):
    """A feed's body that is not what it should be (not GTFS-realtime, broken JSON, an error
    page): the poll failed."""


def parse_message(data: bytes) -> rt.FeedMessage:
    """A FeedMessage from protobuf bytes or from its JSON rendering (snake_case or camelCase;
    fields newer than the bindings are ignored)."""
    msg = rt.FeedMessage()
    head = data.lstrip()[:1]
    try:
        if head == b"{":
            json_format.Parse(data.decode("utf-8"), msg, ignore_unknown_fields=True)
        else:
            msg.ParseFromString(data)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RuntimeWarning) as exc:
        raise FeedError(f"not a GTFS-realtime FeedMessage: {exc}"[:200]) from None
    if not msg.header.gtfs_realtime_version:
        raise FeedError("not a GTFS-realtime FeedMessage: no header.gtfs_realtime_version")
    return msg


@dataclass(slots=True)
class _Vehicle:
    key: str
    trip_id: str | None = None
    vehicle_id: str | None = None
    route_id: str | None = None
    vp: rt.VehiclePosition | None = None
    updates: list[STU] = field(default_factory=list)


def _vehicle_id(desc: rt.VehicleDescriptor) -> str | None:
    return desc.id or None


def _collect(messages: Iterable[rt.FeedMessage]) -> list[_Vehicle]:
    """One entry per trip (a vehicle serves a stop once a trip; WMATA gives one bus's next
    trips their own updates), or per vehicle for a feed without trips."""
    by_key: dict[str, _Vehicle] = {}

    def get(trip: rt.TripDescriptor, vid: str | None, entity_id: str) -> _Vehicle:
        tid = trip.trip_id or None
        key = tid or vid or f"entity:{entity_id}"
        v = by_key.get(key)
        if v is None:
            v = by_key[key] = _Vehicle(key)
        v.trip_id = v.trip_id or tid
        v.vehicle_id = v.vehicle_id or vid
        v.route_id = v.route_id or trip.route_id or None
        return v

    for msg in messages:
        for e in msg.entity:
            if e.is_deleted:
                continue
            if e.HasField("vehicle"):
                get(e.vehicle.trip, _vehicle_id(e.vehicle.vehicle), e.id).vp = e.vehicle
            if e.HasField("trip_update"):
                tu = e.trip_update
                get(tu.trip, _vehicle_id(tu.vehicle), e.id).updates = [
                    u for u in tu.stop_time_update
                    if u.schedule_relationship not in (STU.SKIPPED, STU.NO_DATA)]
    return list(by_key.values())


def _time(u: STU) -> int | None:
    for ev in (u.arrival, u.departure):
        if ev.time:
            return int(ev.time)
    return None


def _observe(v: _Vehicle, stop_id: str, now: float) -> Observation:
    base = {"key": v.key, "trip_id": v.trip_id, "vehicle_id": v.vehicle_id,
            "route_id": v.route_id}
    vp = v.vp
    vp_stop = vp.stop_id if vp is not None and vp.stop_id else None
    # the default of current_status is IN_TRANSIT_TO; a feed that never sets it (USF) says
    # nothing about stopping
    status = vp.current_status if vp is not None and vp.HasField("current_status") else None
    reported = None
    if vp is not None and vp.timestamp and vp.timestamp <= now:  # NYCT: future for unstarted
        reported = float(vp.timestamp)
    ids = [u.stop_id for u in v.updates]
    eta = None
    if stop_id in ids:
        when = _time(v.updates[ids.index(stop_id)])
        eta = None if when is None else max(0.0, when - now)
    if vp_stop == stop_id and status == VP.STOPPED_AT:
        return Observation(**base, relation=Relation.AT_STOP, stops_away=0,
                           reported_at=reported, stop_id=stop_id)
    if vp_stop == stop_id and status in _APPROACH:
        return Observation(**base, relation=Relation.APPROACHING, stops_away=1, eta_s=eta,
                           reported_at=reported, stop_id=stop_id)
    if v.updates:
        if stop_id not in ids:
            return Observation(**base, relation=Relation.PAST, reported_at=reported,
                               stop_id=vp_stop)
        i = ids.index(stop_id)
        if vp_stop is not None and vp_stop in ids[i + 1:]:  # positions newer than predictions
            return Observation(**base, relation=Relation.PAST, reported_at=reported,
                               stop_id=vp_stop)
        if vp_stop in ids[:i]:
            j = ids.index(vp_stop)
            away = i - j + (0 if status == VP.STOPPED_AT else 1)
        else:  # from the predictions alone: the stops still ahead up to ours
            ahead = [u for u in v.updates[:i] if (_time(u) or now) >= now]
            away = len(ahead) + 1
        return Observation(**base, relation=Relation.APPROACHING, stops_away=away, eta_s=eta,
                           reported_at=reported, stop_id=stop_id)
    return Observation(**base, relation=Relation.ELSEWHERE, reported_at=reported,
                       stop_id=vp_stop)


def snapshot(messages: Iterable[rt.FeedMessage], stop_id: str) -> Snapshot:
    """What the messages of one moment say about ``stop_id``: one observation per vehicle (or
    trip) in them; the snapshot's time is the newest header timestamp."""
    msgs = list(messages)
    at = float(max((m.header.timestamp for m in msgs), default=0))
    obs = tuple(_observe(v, stop_id, at) for v in _collect(msgs))
    return Snapshot(at=at, stop_id=stop_id, observations=obs, kind=FeedKind.GTFS_RT)
