"""A bounded, ordered, on-disk event queue (SQLite) that outlives broker outages and restarts.

An event is stored before it is first sent and deleted only when the broker has acknowledged it
(QoS 1 PUBACK), so nothing is lost; after a reconnect the unacknowledged ones are sent again in
order, which may repeat an event the broker had already received: QoS 1's own rule. Every event
carries its ``seq`` (the row id, never reused) so a consumer can drop repeats.

Used from one thread only (the MQTT link's).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import structlog

from edge.config import DropPolicy

log = structlog.get_logger("stopsafe.mqtt.outbox")

MEMORY = ":memory:"


def default_outbox_path(stop_id: str) -> Path:
    """``$STATE_DIRECTORY`` (systemd's StateDirectory=), else ~/.local/state/stopsafe."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    base = Path(state) if state else (
        Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "stopsafe"
    )
    return base / f"outbox-{stop_id}.sqlite"


class Outbox:
    """Events waiting for the broker's acknowledgement, oldest first."""

    def __init__(self, path: Path | str, max_events: int, drop: DropPolicy) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self.drop = drop
        self.dropped = 0
        # made in the constructing thread, then used only by the link's thread
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != MEMORY:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        # AUTOINCREMENT: ids (the events' seq) are never reused, even after the table emptied
        self._db.execute("CREATE TABLE IF NOT EXISTS events ("
                         "seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")
        self._count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        self._last_seq = int(row[0]) if row else 0
        self._full_logged = False

    def __len__(self) -> int:
        return self._count

    def append(self, event: dict[str, Any]) -> int | None:
        """Store ``event``; its seq, or None when the policy refused it."""
        if self._count >= self.max_events:
            if not self._full_logged:
                log.warning("outbox_full", max_events=self.max_events, drop=self.drop.value)
                self._full_logged = True
            self.dropped += 1
            if self.drop is DropPolicy.NEWEST:
                return None
            oldest = self._db.execute("SELECT MIN(seq) FROM events").fetchone()[0]
            self._db.execute("DELETE FROM events WHERE seq = ?", (oldest,))
            self._count -= 1
        cur = self._db.execute("INSERT INTO events (body) VALUES (?)",
                               (json.dumps(event, separators=(",", ":")),))
        self._count += 1
        self._last_seq = int(cur.lastrowid or 0)
        return self._last_seq

    @property
    def last_seq(self) -> int:
        """The highest seq ever given (0 before the first event): the stop's own counter
        (still readable after ``close``)."""
        return self._last_seq

    def after(self, seq: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` events with a seq above ``seq``, in order."""
        rows = self._db.execute(
            "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(s, json.loads(b)) for s, b in rows]

    def ack(self, seq: int) -> None:
        """The broker has it: forget it."""
        cur = self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
        self._count -= cur.rowcount
        if self._count < self.max_events:
            self._full_logged = False

    def close(self) -> None:
        self._db.close()
