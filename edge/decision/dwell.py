"""Who is waiting: a person whose current stay in the zone has lasted ``dwell_s``."""

from __future__ import annotations

from dataclasses import dataclass

from edge.decision.timing import lasted
from edge.decision.tracker import Track
from edge.decision.zones import Zone


@dataclass(slots=True)
class Stay:
    since: float  # when this stay in the zone began
    last_in: float  # the last time the person was *seen* in the zone
    out_since: float | None = None


class DwellTimer:
    """Tracks each person's stay in the zone.

    A stay survives short excursions over the zone's edge (the standing point jitters there) of
    up to ``leave_grace_s``; it ends when the person's track ends.
    """

    def __init__(self, zone: Zone, dwell_s: float, leave_grace_s: float) -> None:
        self.zone = zone
        self.dwell_s = dwell_s
        self.leave_grace_s = leave_grace_s
        self.stays: dict[int, Stay] = {}

    def reset(self) -> None:
        self.stays.clear()

    def update(self, tracks: list[Track], now: float) -> None:
        live = set()
        for track in tracks:
            live.add(track.id)
            inside = self.zone.contains(track.point)
            stay = self.stays.get(track.id)
            if inside:
                if stay is None:  # the stay starts now, however long the track is known
                    stay = self.stays[track.id] = Stay(since=now, last_in=now)
                stay.out_since = None
                if track.seen_now:
                    stay.last_in = now
            elif stay is not None:
                if stay.out_since is None:
                    stay.out_since = now
                if now - stay.out_since > self.leave_grace_s:
                    del self.stays[track.id]
        for gone in set(self.stays) - live:
            del self.stays[gone]

    def restart(self, track_id: int, now: float) -> None:
        """The track's stay begins anew at ``now`` (it stopped being a static thing: whoever
        took its track waits ``dwell_s`` like any arrival)."""
        stay = self.stays.get(track_id)
        if stay is not None:
            stay.since = now

    def shift(self, dt: float) -> None:
        for stay in self.stays.values():
            stay.since += dt
            stay.last_in += dt
            if stay.out_since is not None:
                stay.out_since += dt

    def in_zone(self, track: Track) -> bool:
        return self.zone.contains(track.point)

    def dwell(self, track: Track, now: float) -> float:
        stay = self.stays.get(track.id)
        return 0.0 if stay is None else now - stay.since

    def waiting(self, track: Track, now: float) -> bool:
        stay = self.stays.get(track.id)
        return (stay is not None and stay.out_since is None
                and lasted(stay.since, now, self.dwell_s))
