"""The maintenance console: every stop seen on the broker in one table, and ``send``.

The table is built from the stops' retained topics and telemetry only (it needs no list of
stops): offline stops and stops with faults come first. Messages only update a dictionary; the
screen is redrawn at a fixed rate, so a thousand stops reporting do not make it sluggish.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from edge.decision.events import EventKind
from edge.wire import Leaf, State, Status, split_stop_topic

SUBSCRIBED = (Leaf.STATUS.value, State.LIGHT.value, State.LIGHT_MODE.value,
              State.WAITING.value, State.OCCUPANCY.value, State.FAULTS.value, Leaf.TELE.value,
              Leaf.EVENT.value)


class SortKey(str, Enum):
    STOP = "stop"
    LAST_SEEN = "last_seen"
    WAITING = "waiting"
    FPS = "fps"
    INFERENCE = "inference_ms"


@dataclass
class StopRow:
    stop: str
    status: str | None = None
    light: str | None = None
    mode: str | None = None
    waiting: int | None = None
    occupancy: str | None = None
    fps: float | None = None
    inference_ms: float | None = None
    faults: list[str] = field(default_factory=list)
    last_seen: float | None = None  # epoch seconds of the last message from the stop
    # boxes of an active fault that has them (static_object), from its event: events are not
    # retained, so a console started later shows the fault's name without them
    fault_boxes: dict[str, list[Any]] = field(default_factory=dict)

    def fault_text(self) -> str:
        return ", ".join(f + "".join(f" {b}" for b in self.fault_boxes.get(f, ()))
                         for f in self.faults)
    # with ``console --db``: fault name -> (raises, seconds active) over the last 24 hours
    faults_24h: dict[str, tuple[int, float]] | None = None

    @property
    def online(self) -> bool:
        return self.status == Status.ONLINE.value

    def urgency(self) -> int:
        """0: offline (or never said online), 1: faults, 2: fine."""
        if not self.online:
            return 0
        return 1 if self.faults else 2


class FleetTable:
    """Rows by stop id, fed with messages (thread-safe)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.rows: dict[str, StopRow] = {}
        self.messages = 0
        self.history: dict[str, dict[str, tuple[int, float]]] | None = None  # console --db
        self._lock = threading.Lock()

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(f"{self.prefix}/+/{leaf}", 1) for leaf in SUBSCRIBED]

    def update(self, topic: str, payload: bytes, now: float | None = None) -> None:
        where = split_stop_topic(self.prefix, topic)
        if where is None:
            return
        stop, leaf = where
        text = payload.decode("utf-8", "replace")
        with self._lock:
            self.messages += 1
            row = self.rows.get(stop)
            if row is None:
                row = self.rows[stop] = StopRow(stop)
            row.last_seen = time.time() if now is None else now
            if leaf == Leaf.STATUS.value:
                row.status = text
            elif leaf == State.LIGHT.value:
                row.light = text
            elif leaf == State.LIGHT_MODE.value:
                row.mode = text
            elif leaf == State.OCCUPANCY.value:
                row.occupancy = text
            elif leaf == State.WAITING.value:
                row.waiting = int(text) if text.isdigit() else None
            elif leaf == State.FAULTS.value:
                row.faults = _json_list(text)
                row.fault_boxes = {f: b for f, b in row.fault_boxes.items() if f in row.faults}
            elif leaf == Leaf.EVENT.value:
                _fault_event(row, text)
            elif leaf == Leaf.TELE.value:
                try:
                    tele = json.loads(text)
                except ValueError:
                    return
                if isinstance(tele, dict):
                    row.fps = tele.get("fps")
                    inf = tele.get("inference_ms")
                    row.inference_ms = inf.get("p50") if isinstance(inf, dict) else None

    def set_history(self, faults: dict[str, dict[str, tuple[int, float]]]) -> None:
        """Each stop's faults over the last 24 hours, from the history database."""
        with self._lock:
            self.history = faults

    def stops(self) -> list[str]:
        with self._lock:
            return list(self.rows)

    def snapshot(self, sort: SortKey = SortKey.STOP, reverse: bool = False) -> list[StopRow]:
        """Rows, most urgent first, then by ``sort``."""
        with self._lock:
            rows = [StopRow(**asdict(r)) for r in self.rows.values()]
            if self.history is not None:
                for r in rows:
                    r.faults_24h = self.history.get(r.stop, {})

        def key(r: StopRow) -> Any:
            v = getattr(r, sort.value)
            return (v is None, v if v is not None else 0)

        rows.sort(key=key, reverse=reverse)
        rows.sort(key=lambda r: r.urgency())  # stable: keeps the chosen order within a group
        return rows

    def __len__(self) -> int:
        with self._lock:
            return len(self.rows)


def _fault_event(row: StopRow, text: str) -> None:
    """Keep the boxes of a fault event that carries them (a static object's)."""
    if '"fault"' not in text:  # most events are the light's: skip the parsing
        return
    try:
        event = json.loads(text)
    except ValueError:
        return
    if not isinstance(event, dict) or event.get("kind") != EventKind.FAULT.value:
        return
    fault = str(event.get("fault"))
    detail = event.get("detail")
    boxes = detail.get("boxes") if isinstance(detail, dict) else None
    if event.get("active") and isinstance(boxes, list) and boxes:
        row.fault_boxes[fault] = boxes
    else:
        row.fault_boxes.pop(fault, None)


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def render(table: FleetTable, sort: SortKey, reverse: bool, limit: int) -> Any:
    """A rich table of the ``limit`` most urgent rows, with a summary in the title."""
    from rich.table import Table

    rows = table.snapshot(sort, reverse)
    online = sum(r.online for r in rows)
    faulty = sum(bool(r.faults) for r in rows)
    t = Table(title=f"stopsafe console: {len(rows)} stops, {online} online, "
              f"{len(rows) - online} not online, {faulty} with faults "
              f"(sorted by {sort.value}; {table.messages} messages)", expand=False)
    cols = ["stop", "status", "light", "mode", "waiting", "fps", "inference ms", "last seen",
            "faults"]
    with_history = table.history is not None
    if with_history:
        cols.append("faults, last 24 h")
    for col in cols:
        t.add_column(col, justify="right" if col in ("waiting", "fps", "inference ms") else "left")
    now = time.time()
    for r in rows[:limit]:
        style = "bold red" if not r.online else ("yellow" if r.faults else None)
        seen = "-" if r.last_seen is None else f"{now - r.last_seen:.0f} s ago"
        cells = [r.stop, r.status or "?", r.light or "-", r.mode or "-",
                 "-" if r.waiting is None else str(r.waiting),
                 "-" if r.fps is None else f"{r.fps:.1f}",
                 "-" if r.inference_ms is None else f"{r.inference_ms:.0f}",
                 seen, r.fault_text()]
        if with_history:
            cells.append(", ".join(f"{name} {n}x {active / 60:.0f} min" for name, (n, active)
                                   in sorted((r.faults_24h or {}).items())))
        t.add_row(*cells, style=style)
    if len(rows) > limit:
        t.caption = f"... and {len(rows) - limit} more"
    return t


def rows_json(rows: list[StopRow]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = {**asdict(r), "online": r.online}
        if r.faults_24h is None:
            d.pop("faults_24h")
        else:
            d["faults_24h"] = {k: {"raised": n, "active_s": round(s, 1)}
                               for k, (n, s) in r.faults_24h.items()}
        out.append(d)
    return out


def new_correlation() -> bytes:
    return uuid.uuid4().hex.encode()
