"""One bus, two witnesses: the feed's arrival and the camera's kerb visit of the same bus made
into one ``bus`` event. Pure; times are the controller's.

When a stop has both sources, each report waits up to ``match_s`` for the other's. Two reports
are one bus when the times the bus was at the stop (the feed: from reaching it until its
arrival closed; the camera: its visit in the kerb zone) come within ``match_s`` of each other.
The merged outcome: **stopped** if either saw it stop (a bus that stood just outside the kerb
zone, or whose stop the feed missed, did stop), **passed** only when neither did, otherwise
unknown; both sources' own outcomes stay in ``by_source``. A report left alone for ``match_s``
goes out alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edge.decision.events import BusArrived
from edge.wire import BusOutcome

FEED, CAMERA = "feed", "camera"


@dataclass(slots=True)
class _Report:
    event: BusArrived
    span: tuple[float, float]
    due: float


def merged_outcome(outcomes: list[str]) -> str:
    if BusOutcome.STOPPED.value in outcomes:
        return BusOutcome.STOPPED.value
    if BusOutcome.PASSED.value in outcomes:
        return BusOutcome.PASSED.value
    return BusOutcome.UNKNOWN.value


def merge(feed: BusArrived, camera: BusArrived, first: BusArrived, t: float) -> BusArrived:
    """The feed's names and times, the camera's dwell when it measured one, the stop's waiting
    as it was when the bus first reached it (``first``)."""
    return dataclasses.replace(
        feed, t=t, outcome=merged_outcome([feed.outcome, camera.outcome]),
        dwell_s=camera.dwell_s if camera.dwell_s is not None else feed.dwell_s,
        waiting=first.waiting, waited_s=first.waited_s, light_on=first.light_on,
        source=f"{FEED}+{CAMERA}",
        by_source=((FEED, feed.outcome), (CAMERA, camera.outcome)))


class BusPairing:
    def __init__(self, match_s: float) -> None:
        self.match_s = match_s
        self._waiting: dict[str, list[_Report]] = {FEED: [], CAMERA: []}

    def offer(self, event: BusArrived, span: tuple[float, float], t: float
              ) -> list[BusArrived]:
        """A source's report (``event.source``); the events that go out now."""
        mine = event.source
        other = CAMERA if mine == FEED else FEED
        for r in self._waiting[other]:
            if r.span[0] - self.match_s <= span[1] and span[0] <= r.span[1] + self.match_s:
                self._waiting[other].remove(r)
                feed, cam = (event, r.event) if mine == FEED else (r.event, event)
                first = event if span[0] <= r.span[0] else r.event
                return [merge(feed, cam, first, t)]
        self._waiting[mine].append(_Report(event, span, t + self.match_s))
        return []

    def due(self, t: float) -> list[BusArrived]:
        """Reports whose counterpart did not come in time: alone."""
        out = []
        for reports in self._waiting.values():
            for r in [r for r in reports if t >= r.due]:
                reports.remove(r)
                out.append(dataclasses.replace(r.event, t=t))
        return sorted(out, key=lambda e: e.t)

    def flush(self, t: float) -> list[BusArrived]:
        out = [dataclasses.replace(r.event, t=t) for rs in self._waiting.values() for r in rs]
        for rs in self._waiting.values():
            rs.clear()
        return out
