"""Did the bus stop, as the camera sees it: bus boxes in the kerb zone. Pure; times are the
controller's.

A visit starts when a bus box stands (bottom centre) in the kerb zone. It has **stopped** once
its box has stayed put (every edge within ``still_tolerance`` of the frame) for ``stop_s``; it
has **passed** when no bus has been in the zone for ``gone_s`` and it never stood that long.
While a bus is in the zone it hides whoever waits behind it: :meth:`KerbWatch.hiding` says so,
and the controller then keeps the people it knew instead of concluding they left (for at most
``max_hide_s``, so a bus parked for good does not freeze the stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from detector.base import Detection
from edge.decision.timing import lasted
from edge.decision.zones import Zone


@dataclass(frozen=True, slots=True)
class KerbSettings:
    """Filled from the config's ``kerb`` section (``edge.runtime.assembly.kerb_settings``)."""

    polygon: Sequence[Sequence[float]]
    stop_s: float
    still_tolerance: float
    gone_s: float
    max_hide_s: float
    match_s: float  # (with a feed) a feed arrival this close to a visit is the same bus


@dataclass(frozen=True, slots=True)
class KerbVisit:
    """One bus in the kerb zone; ``stopped`` None while it is still there."""

    since: float
    last_seen: float
    box: Detection
    still_since: float
    stopped_from: float | None = None

    @property
    def stopped(self) -> bool:
        """It stood for ``stop_s`` (the outcome, once it has left)."""
        return self.stopped_from is not None

    @property
    def dwell_s(self) -> float | None:
        return None if self.stopped_from is None else self.last_seen - self.stopped_from


class KerbWatch:
    def __init__(self, s: KerbSettings) -> None:
        self.settings = s
        self.zone = Zone(s.polygon)
        self.visit: KerbVisit | None = None

    def _moved(self, a: Detection, b: Detection) -> bool:
        tol = self.settings.still_tolerance
        return any(abs(p - q) > tol for p, q in
                   ((a.x1, b.x1), (a.y1, b.y1), (a.x2, b.x2), (a.y2, b.y2)))

    def update(self, buses: Sequence[Detection], t: float) -> KerbVisit | None:
        """The visit that just ended (the bus left), or None."""
        s = self.settings
        inside = [b for b in buses if self.zone.contains(b.bottom_centre)]
        v = self.visit
        if not inside:
            if v is not None and lasted(v.last_seen, t, s.gone_s):
                self.visit = None
                return v
            return None
        box = max(inside, key=lambda b: b.width * b.height)
        if v is None:
            self.visit = KerbVisit(since=t, last_seen=t, box=box, still_since=t)
            return None
        still_since = t if self._moved(v.box, box) else v.still_since
        anchor = box if still_since == t else v.box  # compare with where it came to rest
        stopped_from = v.stopped_from
        if stopped_from is None and lasted(still_since, t, s.stop_s):
            stopped_from = still_since
        self.visit = replace(v, last_seen=t, box=anchor, still_since=still_since,
                             stopped_from=stopped_from)
        return None

    def hiding(self, t: float) -> bool:
        """A bus is in the zone (and has not been there longer than max_hide_s)."""
        v = self.visit
        return v is not None and not lasted(v.since, t, self.settings.max_hide_s)
