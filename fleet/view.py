"""The maintenance console's model: every stop seen on the broker, one row each.

The table is built from the stops' retained topics, telemetry, events and command answers only
(it needs no list of stops). Messages only update a dictionary under a lock; the views (the
Textual console, ``--once``, ``--json``) read copies at their own pace, so a thousand stops
reporting do not make them sluggish.

What the rows say and only that:
- "last seen" is the last message the stop itself sent while the console listened: retained
  copies the broker replays at subscription, and the last will the broker publishes for a dead
  stop, are not the stop speaking;
- "offline since" is when the console heard the will (or the stop's clean ``stopped``); a stop
  already offline when the console started is "offline before <start>", never a guessed time.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from edge.wire import (
    EventKind,
    Leaf,
    OnOff,
    State,
    Status,
    fleet_filter,
    parse_json,
    split_stop_topic,
)

SUBSCRIBED = (Leaf.STATUS.value, *(s.value for s in State), Leaf.TELE.value, Leaf.EVENT.value)
RESULTS = f"{Leaf.RESULT.value}/+"  # command answers (the console's and anyone's)
RECENT_EVENTS = 20  # events kept per stop for the detail pane
RECENT_ACKS = 10


class SortKey(str, Enum):
    """Columns the rows can be sorted by; ``urgency`` is offline, then faults, then the rest."""

    URGENCY = "urgency"
    STOP = "stop"
    STATUS = "status"
    LIGHT = "light"
    MODE = "mode"
    WAITING = "waiting"
    IN_SERVICE = "in_service"
    FPS = "fps"
    INFERENCE = "inference_ms"
    LAST_SEEN = "last_seen"
    FAULTS = "faults"


class StopFilter(str, Enum):
    """The states the console filters by (a row may be in several)."""

    WAITING = "waiting"
    LIT = "lit"
    FAULT = "fault"
    OFFLINE = "offline"
    OUT_OF_HOURS = "out_of_hours"


@dataclass
class Ack:
    """A command's answer as it came back on ``result/<name>``."""

    at: float
    command: str
    body: dict[str, Any]
    ours: bool  # answers a command this console sent


@dataclass
class StopRow:
    stop: str
    status: str | None = None
    light: str | None = None
    mode: str | None = None
    waiting: int | None = None
    occupancy: str | None = None
    in_service: str | None = None  # ON / OFF (the stop's operating hours)
    fps: float | None = None
    inference_ms: float | None = None
    faults: list[str] = field(default_factory=list)
    faults_since: dict[str, str] = field(default_factory=dict)  # fault -> ISO time raised
    selftest: dict[str, Any] | None = None  # the last self-test (selftest/state)
    last_seen: float | None = None  # epoch s of the last message the stop itself sent
    offline_since: float | None = None  # epoch s the console heard it go (None: not heard)
    # boxes of an active fault that has them (static_object), from its event: events are not
    # retained, so a console started later shows the fault's name without them
    fault_boxes: dict[str, list[Any]] = field(default_factory=dict)
    tele: dict[str, Any] = field(default_factory=dict)  # the last telemetry message
    events: tuple[dict[str, Any], ...] = ()  # the last RECENT_EVENTS events, newest last
    acks: tuple[Ack, ...] = ()
    # with ``console --db``: fault name -> (raises, seconds active) over the last 24 hours
    faults_24h: dict[str, tuple[int, float]] | None = None

    def fault_text(self) -> str:
        return ", ".join(f + "".join(f" {b}" for b in self.fault_boxes.get(f, ()))
                         for f in self.faults)

    @property
    def online(self) -> bool:
        return self.status == Status.ONLINE.value

    def urgency(self) -> int:
        """0: offline (or never said online), 1: faults, 2: fine."""
        if not self.online:
            return 0
        return 1 if self.faults else 2

    def states(self) -> set[StopFilter]:
        out = set()
        if not self.online:
            out.add(StopFilter.OFFLINE)
        if self.faults:
            out.add(StopFilter.FAULT)
        if self.light == OnOff.ON.value:
            out.add(StopFilter.LIT)
        if self.waiting:
            out.add(StopFilter.WAITING)
        if self.in_service == OnOff.OFF.value:
            out.add(StopFilter.OUT_OF_HOURS)
        return out

    def matches(self, text: str, states: frozenset[StopFilter] = frozenset()) -> bool:
        """The text filter (stop id, status, mode or a fault name, any case) and every state
        asked for."""
        if states and not states <= self.states():
            return False
        if not text:
            return True
        t = text.lower()
        return any(t in (v or "").lower() for v in (self.stop, self.status, self.mode,
                                                   *self.faults))


class FleetTable:
    """Rows by stop id, fed with messages (thread-safe); ``version`` counts the changes."""

    def __init__(self, prefix: str, clock: Any = time.time) -> None:
        self.prefix = prefix
        self.clock = clock
        self.started = clock()
        self.rows: dict[str, StopRow] = {}
        self.messages = 0
        self.version = 0
        self.history: dict[str, dict[str, tuple[int, float]]] | None = None  # console --db
        self.ours: set[bytes] = set()  # correlation data of the commands this console sent
        self._lock = threading.Lock()

    def subscriptions(self, results: bool = False) -> list[tuple[str, int]]:
        """QoS 0: the console is a view, not a record (the collector is). At QoS 1 the broker
        holds back all but a few messages in flight and drops what overflows its queue for
        the client (mosquitto: max_queued_messages, 1000): a thousand stops' retained states
        at subscription would lose some."""
        leaves = [*SUBSCRIBED, *([RESULTS] if results else [])]
        return [(fleet_filter(self.prefix, leaf), 0) for leaf in leaves]

    def update(self, topic: str, payload: bytes, now: float | None = None,
               retained: bool = False, correlation: bytes | None = None) -> None:
        where = split_stop_topic(self.prefix, topic)
        if where is None:
            return
        stop, leaf = where
        text = payload.decode("utf-8", "replace")
        now = self.clock() if now is None else now
        with self._lock:
            self.messages += 1
            self.version += 1
            row = self.rows.get(stop)
            if row is None:
                if not payload:  # a cleared retained topic of a stop we do not list
                    return
                row = self.rows[stop] = StopRow(stop)
            will = leaf == Leaf.STATUS.value and text == Status.OFFLINE.value
            if not retained and not will:
                row.last_seen = now
            if leaf == Leaf.STATUS.value:
                if text != Status.ONLINE.value and row.status == Status.ONLINE.value \
                        and not retained:
                    row.offline_since = now
                elif text == Status.ONLINE.value:
                    row.offline_since = None
                row.status = text or None
            elif leaf == State.LIGHT.value:
                row.light = text
            elif leaf == State.LIGHT_MODE.value:
                row.mode = text
            elif leaf == State.OCCUPANCY.value:
                row.occupancy = text
            elif leaf == State.IN_SERVICE.value:
                row.in_service = text
            elif leaf == State.WAITING.value:
                row.waiting = int(text) if text.isdigit() else None
            elif leaf == State.FAULTS.value:
                row.faults = _json_list(text)
                row.fault_boxes = {f: b for f, b in row.fault_boxes.items() if f in row.faults}
            elif leaf == State.FAULT_DETAIL.value:
                detail = _json_obj(text)
                row.faults_since = {str(k): str(v.get("since")) for k, v in detail.items()
                                    if isinstance(v, dict) and v.get("since")}
            elif leaf == State.SELFTEST.value:
                row.selftest = _json_obj(text) or None
            elif leaf == Leaf.EVENT.value:
                _event(row, text)
            elif leaf == Leaf.TELE.value:
                tele = _json_obj(text)
                if tele:
                    row.tele = tele
                    row.fps = tele.get("fps")
                    inf = tele.get("inference_ms")
                    row.inference_ms = inf.get("p50") if isinstance(inf, dict) else None
            elif leaf.startswith(Leaf.RESULT.value + "/"):
                body = _json_obj(text)
                ours = correlation is not None and correlation in self.ours
                row.acks = (*row.acks, Ack(now, leaf.partition("/")[2], body, ours)
                            )[-RECENT_ACKS:]

    def forget(self, stop: str) -> bool:
        """Drop a stop's row (its retained topics were cleared): True when it was listed."""
        with self._lock:
            self.version += 1
            return self.rows.pop(stop, None) is not None

    def set_history(self, faults: dict[str, dict[str, tuple[int, float]]]) -> None:
        """Each stop's faults over the last 24 hours, from the history database."""
        with self._lock:
            self.history = faults
            self.version += 1

    def stops(self) -> list[str]:
        with self._lock:
            return list(self.rows)

    def row(self, stop: str) -> StopRow | None:
        with self._lock:
            r = self.rows.get(stop)
            return None if r is None else copy.copy(r)

    def _copies(self) -> list[StopRow]:
        """Shallow copies: every container in a row is replaced on update, never changed in
        place, so a copy is a consistent picture without a deep copy per refresh."""
        with self._lock:
            rows = [copy.copy(r) for r in self.rows.values()]
            if self.history is not None:
                for r in rows:
                    r.faults_24h = self.history.get(r.stop, {})
        return rows

    def view(self, sort: SortKey = SortKey.URGENCY, reverse: bool = False, text: str = "",
             states: frozenset[StopFilter] = frozenset()) -> list[StopRow]:
        """The rows that match, sorted by one column (ties by stop id)."""
        rows = [r for r in self._copies() if r.matches(text, states)]
        rows.sort(key=lambda r: r.stop)
        if sort is SortKey.URGENCY:
            rows.sort(key=lambda r: r.urgency(), reverse=reverse)
        elif sort is not SortKey.STOP:
            known = [r for r in rows if _value(r, sort) is not None]
            known.sort(key=lambda r: _value(r, sort), reverse=reverse)
            rows = known + [r for r in rows if _value(r, sort) is None]  # unknown: last
        elif reverse:
            rows.reverse()
        return rows

    def snapshot(self, sort: SortKey = SortKey.STOP, reverse: bool = False) -> list[StopRow]:
        """Rows, most urgent first, then by ``sort`` (``--json`` and ``--once``)."""
        rows = self.view(sort, reverse)
        rows.sort(key=lambda r: r.urgency())  # stable: keeps the chosen order within a group
        return rows

    def counts(self) -> tuple[int, int, int]:
        """Stops, online, with faults (no copies: the status bar asks often)."""
        with self._lock:
            rows = self.rows.values()
            return (len(self.rows), sum(r.online for r in rows),
                    sum(bool(r.faults) for r in rows))

    def __len__(self) -> int:
        with self._lock:
            return len(self.rows)


def _value(r: StopRow, sort: SortKey) -> Any:
    """The column's value, None when the stop has not said it (those rows go last)."""
    v: Any = ", ".join(r.faults) if sort is SortKey.FAULTS else getattr(r, sort.value)
    return None if v == "" else v


def _event(row: StopRow, text: str) -> None:
    """Keep the event (the last few) and the boxes of a fault event that has them."""
    event = _json_obj(text)
    if not event:
        return
    row.events = (*row.events, event)[-RECENT_EVENTS:]
    if event.get("kind") != EventKind.FAULT.value:
        return
    fault = str(event.get("fault"))
    detail = event.get("detail")
    boxes = detail.get("boxes") if isinstance(detail, dict) else None
    if event.get("active") and isinstance(boxes, list) and boxes:
        row.fault_boxes = {**row.fault_boxes, fault: boxes}
    else:
        row.fault_boxes = {k: v for k, v in row.fault_boxes.items() if k != fault}


def _json_obj(text: str) -> dict[str, Any]:
    try:
        value = parse_json(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(text: str) -> list[str]:
    try:
        value = parse_json(text)
    except ValueError:
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def clock_text(t: float | None) -> str:
    """A local wall-clock time for the table: the date too unless it is today."""
    if t is None:
        return "-"
    d = datetime.fromtimestamp(t)
    return d.strftime("%H:%M:%S" if d.date() == datetime.now().date() else "%m-%d %H:%M")


def status_text(r: StopRow, started: float) -> str:
    if r.online or r.status is None:
        return r.status or "?"
    if r.offline_since is not None:
        return f"{r.status} {clock_text(r.offline_since)}"
    return f"{r.status} (before {clock_text(started)})"


COLUMNS: tuple[tuple[SortKey, str], ...] = (
    (SortKey.STOP, "stop"), (SortKey.STATUS, "status"), (SortKey.LIGHT, "light"),
    (SortKey.MODE, "mode"), (SortKey.WAITING, "waiting"), (SortKey.IN_SERVICE, "in hours"),
    (SortKey.FPS, "fps"), (SortKey.INFERENCE, "inference ms"), (SortKey.LAST_SEEN, "last seen"),
    (SortKey.FAULTS, "faults"),
)


def cells(r: StopRow, started: float) -> tuple[str, ...]:
    """One row as the table shows it, in ``COLUMNS`` order."""
    return (r.stop, status_text(r, started), r.light or "-", r.mode or "-",
            "-" if r.waiting is None else str(r.waiting),
            {"ON": "yes", "OFF": "no"}.get(r.in_service or "", "-"),
            "-" if r.fps is None else f"{r.fps:.1f}",
            "-" if r.inference_ms is None else f"{r.inference_ms:.0f}",
            clock_text(r.last_seen), r.fault_text())


def detail_lines(r: StopRow, started: float) -> list[str]:
    """The detail pane of one stop: state, faults with since, self-test, telemetry, the last
    events and command answers."""
    out = [f"stop {r.stop}", f"status       {status_text(r, started)}",
           f"last seen    {clock_text(r.last_seen)} (the stop's own last message)",
           f"light        {r.light or '-'} (mode {r.mode or '-'}), in service hours: "
           f"{r.in_service or '-'}",
           f"waiting      {'-' if r.waiting is None else r.waiting} "
           f"(occupancy {r.occupancy or '-'})", "", "faults"]
    if r.faults:
        out += [f"  {f:<16} since {r.faults_since.get(f, '?')}"
                + "".join(f" {b}" for b in r.fault_boxes.get(f, ())) for f in r.faults]
    else:
        out.append("  none")
    if r.faults_24h:
        out += [f"  last 24 h: {name} {n}x {active / 60:.0f} min"
                for name, (n, active) in sorted(r.faults_24h.items())]
    st = r.selftest
    out.append("self-test    " + ("-" if not st else
                                  f"{st.get('result')} at {st.get('at')}"
                                  + (f", failed: {', '.join(st.get('failed') or [])}"
                                     if st.get("failed") else "")))
    t = r.tele
    out += ["", "telemetry" + (f" ({t.get('ts')})" if t else ": none yet")]
    if t:
        light = t.get("light") or {}
        inf = t.get("inference_ms") or {}
        mem = t.get("memory") or {}
        ev = t.get("events") or {}
        out += [f"  running since {t.get('started', '-')} (uptime {t.get('uptime_s')} s)",
                f"  fps {t.get('fps')}, detector {t.get('detector_fps', '-')}/s, inference p50 "
                f"{inf.get('p50')} ms p95 {inf.get('p95')} ms",
                f"  camera {t.get('camera')} (frame age {t.get('frame_age_s')} s), "
                f"cpu {t.get('cpu_temp_c')} °C, rss {mem.get('rss_mb')} MB",
                f"  light on today {light.get('on_s_today')} s, switched on "
                f"{light.get('switched_on_today')}x, waiting episodes "
                f"{t.get('waiting_episodes_today')}",
                f"  events queued {ev.get('queued')}, dropped {ev.get('dropped')}; "
                f"versions {t.get('versions', {}).get('stopsafe', '-')}"]
    out += ["", "recent events" + ("" if r.events else ": none heard")]
    for e in reversed(r.events[-10:]):
        rest = {k: v for k, v in e.items() if k not in ("kind", "ts", "seq", "t")}
        out.append(f"  {str(e.get('ts', ''))[11:19]} {e.get('kind')} {json.dumps(rest)}")
    out += ["", "command answers" + ("" if r.acks else ": none")]
    for a in reversed(r.acks):
        mark = "*" if a.ours else " "
        out.append(f" {mark}{clock_text(a.at)} {a.command} {json.dumps(a.body)}")
    return out


def render(table: FleetTable, sort: SortKey, reverse: bool, limit: int | None = None) -> Any:
    """A rich table of the rows (``--once``), most urgent first, a summary in the title."""
    from rich.table import Table

    rows = table.snapshot(sort, reverse)
    online = sum(r.online for r in rows)
    faulty = sum(bool(r.faults) for r in rows)
    t = Table(title=f"stopsafe console: {len(rows)} stops, {online} online, "
              f"{len(rows) - online} not online, {faulty} with faults "
              f"(sorted by {sort.value}; {table.messages} messages)", expand=False)
    names = [name for _, name in COLUMNS]
    with_history = table.history is not None
    if with_history:
        names.append("faults, last 24 h")
    for col in names:
        t.add_column(col, justify="right" if col in ("waiting", "fps", "inference ms")
                     else "left")
    shown = rows if limit is None else rows[:limit]
    for r in shown:
        style = "bold red" if not r.online else ("yellow" if r.faults else None)
        row = list(cells(r, table.started))
        if with_history:
            row.append(", ".join(f"{name} {n}x {active / 60:.0f} min" for name, (n, active)
                                 in sorted((r.faults_24h or {}).items())))
        t.add_row(*row, style=style)
    if len(rows) > len(shown):
        t.caption = f"... and {len(rows) - len(shown)} more"
    return t


def rows_json(rows: list[StopRow]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = {**asdict(r), "online": r.online}
        for transient in ("events", "acks", "tele"):
            d.pop(transient)
        if r.faults_24h is None:
            d.pop("faults_24h")
        else:
            d["faults_24h"] = {k: {"raised": n, "active_s": round(s, 1)}
                               for k, (n, s) in r.faults_24h.items()}
        out.append(d)
    return out


def new_correlation() -> bytes:
    return uuid.uuid4().hex.encode()
