"""A stop's day in figures, from its stored rows: pure arithmetic, no database.

Days are the stop's local days (``edge.wire.stop_day``: its telemetry says its offset from UTC;
UTC for a stop that never said). Intervals (light on, a fault active, offline) are cut at the
day's edges and at ``now``; a state the window began with comes from the last row before it (the
light is taken as off and the status as unknown when nothing earlier is stored). The times a
stop was offline are left out of its light and fault intervals (see ``timeline``).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from edge.bus_figures import bus_figures
from edge.wire import BLIND_FAULTS, EventKind, Status, day_span
from fleet.history.store import StopRows

RECONNECT_GRACE_S = 30.0  # a stop sends its retained states within this of saying "online"
BLIND = frozenset(f.value for f in BLIND_FAULTS)
NOT_ONLINE = frozenset({Status.OFFLINE.value, Status.STOPPED.value})

Span = tuple[float, float]


@dataclass
class FaultDay:
    raised: int = 0  # raises on this day
    active_s: float = 0.0  # time active on this day (also of a fault raised earlier)


@dataclass
class DayFigures:
    stop: str
    day: date
    light_on_s: float = 0.0
    switch_ons: int = 0
    waiting_episodes: int = 0
    waiting_s: list[float] = field(default_factory=list)  # each episode's length
    blind_s: float = 0.0  # time with any of BLIND_FAULTS active
    offline_s: float = 0.0  # time with status offline or stopped
    faults: dict[str, FaultDay] = field(default_factory=dict)
    buses: dict[str, Any] = field(default_factory=lambda: bus_figures(()))  # bus_figures()

    @property
    def waiting_total_s(self) -> float:
        return sum(self.waiting_s)

    @property
    def waiting_max_s(self) -> float:
        return max(self.waiting_s, default=0.0)

    @property
    def waiting_mean_s(self) -> float:
        return self.waiting_total_s / len(self.waiting_s) if self.waiting_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("waiting_s")
        d["day"] = self.day.isoformat()
        d.update(light_on_s=round(self.light_on_s, 1), blind_s=round(self.blind_s, 1),
                 offline_s=round(self.offline_s, 1),
                 waiting_total_s=round(self.waiting_total_s, 1),
                 waiting_mean_s=round(self.waiting_mean_s, 1),
                 waiting_max_s=round(self.waiting_max_s, 1),
                 faults={k: {"raised": v.raised, "active_s": round(v.active_s, 1)}
                         for k, v in sorted(self.faults.items())})
        return d


def last_days(today: date, n: int) -> list[date]:
    return [today - timedelta(days=k) for k in range(n - 1, -1, -1)]


def overlap(spans: Iterable[Span], lo: float, hi: float) -> float:
    """Seconds of ``spans`` inside [lo, hi)."""
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in spans)


def union(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass
class Timeline:
    """A stop's intervals over a window, built from its rows."""

    light_on: list[Span] = field(default_factory=list)
    switch_ons: list[float] = field(default_factory=list)
    waiting: list[tuple[float, float]] = field(default_factory=list)  # (ended at, length)
    faults: dict[str, list[Span]] = field(default_factory=dict)
    raises: dict[str, list[float]] = field(default_factory=dict)
    offline: list[Span] = field(default_factory=list)

    @property
    def blind(self) -> list[Span]:
        return union(s for name, spans in self.faults.items() if name in BLIND for s in spans)


def minus(spans: Iterable[Span], holes: list[Span]) -> list[Span]:
    """``spans`` without the parts inside ``holes`` (sorted, not overlapping)."""
    out: list[Span] = []
    for a, b in spans:
        for h0, h1 in holes:
            if h1 <= a or h0 >= b:
                continue
            if h0 > a:
                out.append((a, h0))
            a = max(a, h1)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


def _first_after(rows: list[tuple[float, str]], t: float) -> str | None:
    """The first value at or after ``t`` and within ``RECONNECT_GRACE_S`` of it."""
    for at, value in rows:
        if t <= at <= t + RECONNECT_GRACE_S:
            return value
        if at > t + RECONNECT_GRACE_S:
            break
    return None


def _fault_list(value: str) -> set[str] | None:
    try:
        names = json.loads(value)
    except ValueError:
        return None
    return {str(n) for n in names} if isinstance(names, list) else None


def timeline(rows: StopRows, since: float, until: float) -> Timeline:
    """The stop's intervals in [since, until) (``until`` is the report's "now" or the window's
    end, whichever is first).

    Nothing is known while the stop is offline: its light and fault intervals leave those
    times out. When it is back, the retained ``light/state`` and ``faults/state`` it sends on
    every connect say what is still on (a broker outage) and what ended while it was away (a
    restart); without them, everything open is taken as ended when it went offline."""
    tl = Timeline()
    status = rows.status_before
    down_from = since if status in NOT_ONLINE else None
    for at, value in rows.status:
        if value in NOT_ONLINE and down_from is None:
            down_from = at
        elif value == Status.ONLINE.value and down_from is not None:
            tl.offline.append((down_from, at))
            down_from = None
    if down_from is not None:
        tl.offline.append((down_from, until))
    # each return: (back at, went down at), in time order among the events
    returns = [(u, d) for d, u in tl.offline if u < until]
    light_from = since if rows.light_before else None
    active: dict[str, float] = {k: since for k in rows.faults_before}
    light_on: list[Span] = []
    faults: dict[str, list[Span]] = {}

    def back(at: float, went_down: float) -> None:
        nonlocal light_from
        light = _first_after(rows.light_state, at)
        if light_from is not None and light != "ON":
            light_on.append((light_from, went_down))
            light_from = None
        elif light_from is None and light == "ON":
            light_from = at
        listed = _fault_list(_first_after(rows.faults_state, at) or "")
        for name in list(active):
            if listed is None or name not in listed:
                faults.setdefault(name, []).append((active.pop(name), went_down))
        for name in sorted(listed or ()):
            active.setdefault(name, at)

    points = sorted([(ts, 1, kind, ev) for kind, ts, ev in rows.events]
                    + [(u, 0, "", {"down": d}) for u, d in returns], key=lambda p: (p[0], p[1]))
    for ts, is_event, kind, ev in points:
        if not is_event:
            back(ts, ev["down"])
        elif kind == EventKind.LIGHT.value:
            if ev.get("on"):
                tl.switch_ons.append(ts)
                if light_from is None:
                    light_from = ts
            elif light_from is not None:
                light_on.append((light_from, ts))
                light_from = None
        elif kind == EventKind.WAITING_ENDED.value:
            length = ev.get("duration_s")
            if isinstance(length, (int, float)):
                tl.waiting.append((ts, float(length)))
        elif kind == EventKind.FAULT.value:
            name = str(ev.get("fault"))
            if ev.get("active"):
                tl.raises.setdefault(name, []).append(ts)
                active.setdefault(name, ts)
            elif name in active:
                faults.setdefault(name, []).append((active.pop(name), ts))
    if light_from is not None:
        light_on.append((light_from, until))
    for name, start in active.items():
        faults.setdefault(name, []).append((start, until))
    holes = union(tl.offline)
    tl.light_on = minus(light_on, holes)
    tl.faults = {name: minus(spans, holes) for name, spans in faults.items()}
    return tl


def known_days(rows: StopRows, days: list[date]) -> list[date]:
    """The days of ``days`` from the stop's first record on: before it (and for a stop never
    seen) there is no data, which is not a day of zeros."""
    if rows.first_seen is None:
        return []
    return [d for d in days if day_span(d, rows.utc_offset_s)[1] > rows.first_seen]


def _day_overlaps(spans: list[Span], bounds: list[Span]) -> list[float]:
    """``overlap(spans, lo, hi)`` for each day's ``(lo, hi)`` of ``bounds`` (ascending), each
    span looked at only on the days it touches: the same sums, added in the same order (a
    span outside a day adds 0.0 there, which changes no sum but its start: 0.0, or the int 0
    when there are no spans at all)."""
    los = [lo for lo, _ in bounds]
    out: list[float] = [0.0 if spans else 0] * len(bounds)
    for a, b in spans:
        # from the day before the one ``a`` falls in (day edges a rounding apart), to ``b``
        for i in range(max(0, bisect_right(los, a) - 2), len(bounds)):
            lo, hi = bounds[i]
            if lo >= b:
                break
            part = min(b, hi) - max(a, lo)
            if part > 0:
                out[i] += part
    return out


def _inside(times: list[Any], lo: float, hi: float, key: Any = None) -> slice:
    """The part of ``times`` (ascending) in [lo, hi) (none when ``hi`` is before ``lo``)."""
    start = bisect_left(times, lo, key=key)
    return slice(start, max(start, bisect_left(times, hi, key=key)))


def figures(rows: StopRows, days: list[date], now: float, since: float | None = None
            ) -> list[DayFigures]:
    """One ``DayFigures`` per day of ``days`` (consecutive, ascending) that the stop has data
    for (``known_days``): the stop's local days (``rows.utc_offset_s``). ``since``: where
    ``rows`` begin, when before the first day.

    The window's timeline is cut into days once: each day reads its own share of it (the
    timeline's times are ascending; spans are handed to the days they touch), not all of it."""
    days = known_days(rows, days)
    if not days:
        return []
    first = day_span(days[0], rows.utc_offset_s)[0]
    until = min(now, day_span(days[-1], rows.utc_offset_s)[1])
    tl = timeline(rows, first if since is None else min(since, first), until)
    bounds = [(lo, min(hi, until)) for lo, hi in (day_span(d, rows.utc_offset_s)
                                                  for d in days)]
    light_on = _day_overlaps(tl.light_on, bounds)
    blind = _day_overlaps(tl.blind, bounds)
    offline = _day_overlaps(tl.offline, bounds)
    names = sorted(set(tl.faults) | set(tl.raises))
    active = {name: _day_overlaps(tl.faults.get(name, []), bounds) for name in names}
    bus = sorted(((ts, ev) for kind, ts, ev in rows.events if kind == EventKind.BUS.value),
                 key=itemgetter(0))
    out = []
    for i, (day, (lo, hi)) in enumerate(zip(days, bounds, strict=True)):
        f = DayFigures(rows.stop, day)
        f.light_on_s = light_on[i]
        f.switch_ons = len(tl.switch_ons[_inside(tl.switch_ons, lo, hi)])
        lengths = [length for _, length in tl.waiting[_inside(tl.waiting, lo, hi, itemgetter(0))]]
        f.waiting_episodes, f.waiting_s = len(lengths), lengths
        f.blind_s = blind[i]
        f.offline_s = offline[i]
        f.buses = bus_figures(ev for _, ev in bus[_inside(bus, lo, hi, itemgetter(0))])
        for name in names:
            raises = tl.raises.get(name, [])
            raised = len(raises[_inside(raises, lo, hi)])
            active_s = active[name][i]
            if raised or active_s:
                f.faults[name] = FaultDay(raised, active_s)
        out.append(f)
    return out
