"""A bounded, ordered, on-disk event queue (SQLite) that outlives broker outages and restarts,
and that never stands between the stop and its light, whatever the disk does.

An event is stored before it is first sent and deleted only when the broker has acknowledged it
(QoS 1 PUBACK), so nothing is lost; after a reconnect the unacknowledged ones are sent again in
order, which may repeat an event the broker had already received: QoS 1's own rule. Every event
carries its ``seq`` (never reused) so a consumer can drop repeats.

The disk may fail the outbox; the outbox never fails the daemon:

- a file that is not a database, or fails SQLite's ``quick_check``, is moved aside as
  ``<name>.corrupt-<UTC time>`` (with its ``-wal``/``-shm``), kept for a person to look at, and a
  fresh one is started (health ``corrupt``);
- a disk that is full, read-only or gone, at start or during a run, turns the outbox to a bounded
  queue in memory (health ``failed``); the disk is tried again every ``RETRY_S`` and, once it
  takes writes again, the events in memory are written to it (health ``ok``);
- an event that does not fit (the disk's or the memory's bound) is counted in ``dropped``: no
  event is ever lost without being counted.

Where the seq history is lost (a fresh file after a corrupt one, or no file at all), numbering
restarts at the wall clock's milliseconds, above any seq handed out before, so a consumer that
drops repeats by seq never drops a new event.

Used from one thread only, its sender's: the MQTT link's for the events, the webhook's for the
waiting JSON (``edge.signal.webhook``). It lives below both, here, so neither imports the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import structlog

from edge.config import OUTBOX_MEMORY_EVENTS, DropPolicy, state_dir

log = structlog.get_logger("stopsafe.mqtt.outbox")  # the name the logs have always had

MEMORY = ":memory:"
RETRY_S = 5.0  # a failed disk is tried again this often (and at the next event after that)
# SQLite's primary result codes for "this is not a (sound) database file"
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


class OutboxHealth(str, Enum):
    OK = "ok"
    CORRUPT = "corrupt"  # the file was moved aside; a fresh one is in use
    FAILED = "failed"  # the disk does not take the events: they wait in memory


HealthListener = Callable[[OutboxHealth, bool, dict[str, Any]], None]


def default_outbox_path(stop_id: str) -> Path:
    """In the state directory (:func:`edge.config.state_dir`)."""
    return state_dir() / f"outbox-{stop_id}.sqlite"


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT_CODES
    return type(exc) is sqlite3.DatabaseError  # "file is not a database", "malformed"


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


class _Corrupt(Exception):
    pass


class Outbox:
    """Events waiting for the broker's acknowledgement, oldest first."""

    def __init__(self, path: Path | str, max_events: int, drop: DropPolicy,
                 on_health: HealthListener | None = None,
                 memory_max_events: int = OUTBOX_MEMORY_EVENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = str(path)
        self.max_events = max_events
        self.memory_max_events = memory_max_events
        self.drop = drop
        self.dropped = 0
        self.on_health = on_health
        self.clock = clock
        self.health: set[OutboxHealth] = set()
        self.moved_to: list[str] = []  # corrupt files moved aside (for the crew)
        self._db: sqlite3.Connection | None = None
        self._disk_count = 0
        self._mem: dict[int, str] = {}  # seq -> body, not (yet) on disk, in seq order
        self._acked: set[int] = set()  # on disk, acknowledged, not yet deleted there
        self._last_seq = 0
        self._retry_at = 0.0
        self._full_logged = False
        self._open()

    # ---- opening ----
    def _connect(self) -> sqlite3.Connection:
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # made in the constructing thread, then used only by the link's thread
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=1.0)
        try:
            if self.path != MEMORY:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                check = db.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    raise _Corrupt(f"quick_check: {check[0] if check else 'no answer'}"[:200])
            # AUTOINCREMENT: ids (the events' seq) are never reused, even after it emptied
            db.execute("CREATE TABLE IF NOT EXISTS events ("
                       "seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")
            self._disk_count = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            top = db.execute("SELECT MAX(seq) FROM events").fetchone()[0]
            self._last_seq = max(self._last_seq, row[0] if row else 0, top or 0)
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> None:
        try:
            self._db = self._connect()
            return
        except _Corrupt as exc:
            why = str(exc)
        except sqlite3.Error as exc:
            if not _is_corrupt(exc):
                self._fail(exc, at="open")
                return
            why = _why(exc)
        except OSError as exc:  # the folder cannot be made
            self._fail(exc, at="open")
            return
        self._move_aside(why)

    def _move_aside(self, why: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = f"{self.path}.corrupt-{stamp}"
        try:
            for suffix in ("-wal", "-shm", ""):
                if os.path.exists(self.path + suffix):
                    os.replace(self.path + suffix, target + suffix)
        except OSError as exc:
            self._fail(exc, at="move_aside")
            return
        self.moved_to.append(target)
        # events known to be in it are out of the queue now (the file is kept): counted
        self.dropped += max(0, self._disk_count - len(self._acked))
        self._disk_count = 0
        self._acked.clear()
        log.error("outbox_corrupt", path=self.path, moved_to=target, error=why)
        self._last_seq = max(self._last_seq, self._clock_seq())
        self._set(OutboxHealth.CORRUPT, True, path=self.path, moved_to=target, error=why)
        try:
            self._db = self._connect()
            self._write_memory()
        except (sqlite3.Error, OSError, _Corrupt) as exc:
            self._fail(exc, at="open_fresh")

    @staticmethod
    def _clock_seq() -> int:
        return int(time.time() * 1000)

    # ---- health ----
    def _set(self, health: OutboxHealth, active: bool, **detail: Any) -> None:
        if (health in self.health) == active:
            return
        (self.health.add if active else self.health.discard)(health)
        if self.on_health is not None:
            self.on_health(health, active, detail)

    def _fail(self, exc: BaseException, at: str) -> None:
        """The disk does not take the events: new ones wait in memory, the disk is tried again
        later (what is on it stays readable where the disk allows, and is still sent)."""
        if not self._last_seq:
            self._last_seq = self._clock_seq()
        self._retry_at = self.clock() + RETRY_S
        if OutboxHealth.FAILED not in self.health:
            log.error("outbox_failed", path=self.path, at=at, error=_why(exc),
                      memory_max_events=self.memory_max_events)
        self._set(OutboxHealth.FAILED, True, path=self.path, error=_why(exc))

    def _write_memory(self) -> None:
        """Move the events that waited in memory to the disk (one transaction)."""
        assert self._db is not None
        if self._mem:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO events (seq, body) VALUES (?, ?)",
                                     list(self._mem.items()))
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._disk_count += len(self._mem)
            self._mem.clear()

    def retry(self, now: float | None = None) -> bool:
        """Try a failed disk again (the link calls this from its tick); True when healthy."""
        if OutboxHealth.FAILED not in self.health:
            return True
        now = self.clock() if now is None else now
        if now < self._retry_at:
            return False
        self._retry_at = now + RETRY_S
        try:
            if self._db is None:
                self._db = self._connect()
            self._write_memory()
            for seq in sorted(self._acked):
                self._delete(seq)
        except _Corrupt as exc:
            self._db = None
            self._move_aside(str(exc))
            return OutboxHealth.FAILED not in self.health
        except (sqlite3.Error, OSError) as exc:
            log.debug("outbox_retry_failed", error=_why(exc))
            return False
        log.info("outbox_recovered", path=self.path, events_queued=len(self))
        self._set(OutboxHealth.FAILED, False, path=self.path)
        return True

    # ---- the queue ----
    @property
    def last_seq(self) -> int:
        """The highest seq ever given (0 before the first event): the stop's own counter
        (still readable after ``close``); every event it numbered is at most this."""
        return self._last_seq

    def __len__(self) -> int:
        return self._disk_count - len(self._acked) + len(self._mem)

    def append(self, event: dict[str, Any]) -> int | None:
        """Store ``event``; its seq, or None when it was refused (and counted as dropped)."""
        self.retry()
        on_disk = self._db is not None and OutboxHealth.FAILED not in self.health
        memory_full = not on_disk and len(self._mem) >= self.memory_max_events
        if memory_full or len(self) >= self.max_events:
            if not self._full_logged:
                log.warning("outbox_full", drop=self.drop.value,
                            max_events=self.memory_max_events if memory_full else
                            self.max_events, where="memory" if memory_full else "disk")
                self._full_logged = True
            self.dropped += 1
            if self.drop is DropPolicy.NEWEST:
                return None
            oldest = next(iter(self._mem)) if memory_full else self._oldest()
            if oldest is not None:
                self._forget(oldest)  # counted above
        body = json.dumps(event, separators=(",", ":"))
        seq = self._last_seq + 1
        if on_disk:
            assert self._db is not None
            try:
                self._db.execute("INSERT INTO events (seq, body) VALUES (?, ?)", (seq, body))
                self._disk_count += 1
                self._last_seq = seq
                return seq
            except sqlite3.Error as exc:
                if _is_corrupt(exc):
                    self._db.close()
                    self._db = None
                    self._move_aside(_why(exc))
                else:
                    self._fail(exc, at="append")
            if self._db is not None and OutboxHealth.FAILED not in self.health:
                return self.append(event)  # a fresh file after a corrupt one
        seq = max(seq, self._last_seq + 1)
        self._mem[seq] = body
        self._last_seq = seq
        return seq

    def _oldest(self) -> int | None:
        disk = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                q = "SELECT MIN(seq) FROM events"
                if self._acked:
                    q += f" WHERE seq NOT IN ({','.join(map(str, self._acked))})"
                disk = self._db.execute(q).fetchone()[0]
        mem = next(iter(self._mem), None)
        options = [s for s in (disk, mem) if s is not None]
        return min(options) if options else None

    def after(self, seq: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` events with a seq above ``seq``, in order."""
        rows: list[tuple[int, str]] = []
        if self._db is not None:
            try:
                rows = self._db.execute(
                    "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                    (seq, limit + len(self._acked)),
                ).fetchall()
            except sqlite3.Error as exc:
                self._fail(exc, at="read")
                rows = []
        rows = [r for r in rows if r[0] not in self._acked]
        rows += [(s, b) for s, b in self._mem.items() if s > seq]
        rows.sort(key=lambda r: r[0])
        return [(s, json.loads(b)) for s, b in rows[:limit]]

    def ack(self, seq: int) -> None:
        """The broker has it: forget it."""
        self._forget(seq)
        if len(self) < self.max_events and len(self._mem) < self.memory_max_events:
            self._full_logged = False

    def _forget(self, seq: int) -> None:
        if self._mem.pop(seq, None) is None and self._db is not None:
            self._delete(seq)

    def _delete(self, seq: int) -> None:
        assert self._db is not None
        try:
            cur = self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
        except sqlite3.Error as exc:
            self._acked.add(seq)  # not sent again; deleted when the disk is back
            self._fail(exc, at="ack")
            return
        self._acked.discard(seq)
        self._disk_count -= cur.rowcount

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._mem:
            log.warning("outbox_closed_with_events_in_memory", events=len(self._mem))
