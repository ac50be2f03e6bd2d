"""``stopsafe collect``: every stop's events, status, retained states and telemetry into the
history database, through an MQTT 5 shared subscription.

Several collectors with the same ``group`` split the fleet's messages between them (the broker
hands each message to one member). Each has a persistent session (``clean_start`` False and a
session expiry) and acknowledges a QoS 1 message only after its row is committed, so a collector
that dies (even ``kill -9``) loses nothing: the broker resends what it had not acknowledged and
keeps what arrived meanwhile until it reconnects with the same client id. A message resent after
its row was already committed is an event with a known (stop, seq), which the database drops.

Threads: paho's network thread only puts messages on a queue; one writer thread takes whatever
has arrived, writes it in one transaction, then acknowledges it. Every payload is checked once,
here at the edge (:func:`to_row`: size, UTF-8, JSON depth, the event's envelope): one a stop
should never send is acknowledged, counted and kept aside in ``dead_letters``, so it is neither
fatal nor retried; a stranger (not in the optional list or pattern of known stops) is counted
only. A database that is away is retried (with back-off) without acknowledging, so the broker
keeps the messages meanwhile; one that refuses a single row gets the batch one row at a time,
that row kept aside and the rows behind it stored.

Retained messages are not sent to a shared subscription when it is made (MQTT 5, 4.8.2): the
history starts with the first change after the collector first subscribed.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import paho.mqtt.client as paho
import sqlalchemy as sa
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from edge.wire import (
    EventEnvelope,
    Leaf,
    State,
    fleet_filter,
    parse_json,
    shared_filter,
    split_stop_topic,
)
from fleet.history.schema import DEAD_LETTER_KEEP_BYTES, STOP_ID_LEN
from fleet.history.store import Batch, Store

log = structlog.get_logger("stopsafe.history.collect")

STATE_LEAVES = frozenset({Leaf.STATUS.value, *(s.value for s in State)})
MAX_BATCH = 5000  # messages in one transaction at most
RECEIVE_MAXIMUM = 2000  # unacknowledged messages the broker may have in flight to us


def subscriptions(prefix: str, group: str) -> list[tuple[str, int]]:
    """The shared subscriptions (QoS 1): events, status, every retained state, telemetry."""
    leaves: list[Leaf | State] = [Leaf.EVENT, Leaf.STATUS, Leaf.TELE, *State]
    return [(shared_filter(group, fleet_filter(prefix, leaf)), 1) for leaf in leaves]


class Dropped(str, Enum):
    """Why a message was acknowledged without a row (counted, logged once per reason). Those
    that a stop should never send are also kept aside (:data:`KEPT_ASIDE`)."""

    FOREIGN_TOPIC = "foreign_topic"
    STOP_ID_TOO_LONG = "stop_id_too_long"
    UNKNOWN_STOP = "unknown_stop"  # not in the collector's list or pattern of known stops
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    EVENT_NOT_JSON = "event_not_json"
    EVENT_INVALID = "event_invalid"  # seq missing, out of range or not an integer; bad kind
    TOO_DEEP = "too_deep"  # JSON nested beyond what the parser takes
    TELE_INVALID = "tele_invalid"  # telemetry that is not a JSON object
    DB_REFUSED = "db_refused"  # the database refused this one row (the others are stored)
    OTHER_LEAF = "other_leaf"


# a stranger's traffic (anyone on an anonymous broker) is counted, not kept: it could fill the
# table; what a known stop sent wrong is kept for a person to look at
KEPT_ASIDE = frozenset(Dropped) - {Dropped.FOREIGN_TOPIC, Dropped.UNKNOWN_STOP,
                                   Dropped.OTHER_LEAF}
# a stop's largest message is its telemetry, about 1.5 kB; nothing it sends comes near this
MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Refused:
    """A message with no row: why, in a word and in a line."""

    reason: Dropped
    detail: str = ""

    @property
    def kept(self) -> bool:
        return self.reason in KEPT_ASIDE


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "(top level)"
    return f"{where}: {e['msg']}"[:200]


def to_row(prefix: str, topic: str, payload: bytes, received: float,
           known: Callable[[str], bool] | None = None) -> tuple[str, dict[str, Any]] | Refused:
    """The table and row for one message, or why it has none: every payload is checked here,
    once (size, UTF-8, JSON depth, the event's envelope), so nothing reaches the database that
    it would refuse. ``known``: whether a stop id belongs to the fleet (None: every one). Pure.
    """
    where = split_stop_topic(prefix, topic)
    if where is None:
        return Refused(Dropped.FOREIGN_TOPIC)
    stop, leaf = where
    if len(stop) > STOP_ID_LEN:
        return Refused(Dropped.STOP_ID_TOO_LONG, f"{len(stop)} characters")
    if known is not None and not known(stop):
        return Refused(Dropped.UNKNOWN_STOP)
    if leaf != Leaf.EVENT.value and leaf != Leaf.TELE.value and leaf not in STATE_LEAVES:
        return Refused(Dropped.OTHER_LEAF)
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Refused(Dropped.TOO_LARGE, f"{len(payload)} bytes (at most {MAX_PAYLOAD_BYTES})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Refused(Dropped.NOT_UTF8, f"byte 0x{payload[exc.start]:02x} at {exc.start}")
    if leaf in STATE_LEAVES:
        return "states", {"stop": stop, "leaf": leaf, "at": received, "value": text}
    try:
        data = parse_json(text)
    except ValueError as exc:
        deep = "nested too deeply" in str(exc)
        if leaf == Leaf.TELE.value:
            return Refused(Dropped.TOO_DEEP if deep else Dropped.TELE_INVALID, str(exc)[:200])
        return Refused(Dropped.TOO_DEEP if deep else Dropped.EVENT_NOT_JSON, str(exc)[:200])
    if leaf == Leaf.TELE.value:
        if not isinstance(data, dict):
            return Refused(Dropped.TELE_INVALID, f"a JSON {type(data).__name__}, not an object")
        return "tele", {"stop": stop, "at": received, "body": text}
    if not isinstance(data, dict):
        return Refused(Dropped.EVENT_INVALID, f"a JSON {type(data).__name__}, not an object")
    try:
        ev = EventEnvelope.model_validate(data)
    except ValidationError as exc:
        return Refused(Dropped.EVENT_INVALID, _first_error(exc))
    return "events", {"stop": stop, "seq": ev.seq, "kind": ev.kind,
                      "ts": _epoch(ev.ts, received), "received": received, "body": text}


def dead_letter(topic: str, payload: bytes, received: float, refused: Refused,
                prefix: str) -> dict[str, Any]:
    """The row that keeps a refused message aside."""
    where = split_stop_topic(prefix, topic)
    stop = where[0] if where is not None and len(where[0]) <= STOP_ID_LEN else None
    return {"stop": stop, "topic": topic[:256], "reason": refused.reason.value,
            "detail": " ".join(refused.detail.split())[:500], "received": received,
            "size": len(payload), "payload": payload[:DEAD_LETTER_KEEP_BYTES]}


def known_stops(ids: list[str], pattern: str | None) -> Callable[[str], bool] | None:
    """Whether a stop id is the fleet's: in ``ids`` or matching ``pattern`` (the whole id);
    None (every stop) when neither is given."""
    if not ids and pattern is None:
        return None
    wanted = frozenset(ids)
    rx = re.compile(pattern) if pattern is not None else None
    return lambda sid: sid in wanted or (rx is not None and rx.fullmatch(sid) is not None)


def _epoch(iso: Any, default: float) -> float:
    """An event's ISO 8601 ``ts`` (the stop's clock, with its zone) as epoch seconds."""
    if isinstance(iso, str):
        try:
            dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            return default
        if dt.tzinfo is not None:
            return dt.timestamp()
    return default


_LEAF_OF = {"events": Leaf.EVENT.value, "tele": Leaf.TELE.value}


def _batch(rows: list[tuple[str, dict[str, Any]]]) -> Batch:
    batch = Batch()
    for table, row in rows:
        getattr(batch, table).append(row)
    return batch


def _payload_of(row: dict[str, Any]) -> bytes:
    text = row.get("body", row.get("value", ""))
    return str(text).encode("utf-8", "replace")


def refuses_row(exc: BaseException) -> bool:
    """Whether the database refused the data (this row will never go in), as opposed to the
    database being away (locked, unreachable, out of space: everything waits and is retried)."""
    if isinstance(exc, (sa.exc.IntegrityError, sa.exc.DataError)):
        return True
    if isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError):
        return True  # the driver could not take a value
    return isinstance(exc, (OverflowError, ValueError, TypeError))


@dataclass
class CollectorStats:
    rows: int = 0
    batches: int = 0
    write_s: float = 0.0  # time inside committed transactions
    retries: int = 0
    started: float = 0.0

    def as_dict(self, dropped: Counter) -> dict[str, Any]:
        return {"rows": self.rows, "batches": self.batches, "write_s": round(self.write_s, 3),
                "rows_per_write_s": round(self.rows / self.write_s, 1) if self.write_s else None,
                "retries": self.retries, "dropped": dict(dropped),
                "uptime_s": round(time.monotonic() - self.started, 1)}


class Collector:
    """One member of the share group ``group``; ``run`` until ``stop`` is set."""

    def __init__(self, store: Store, host: str, port: int, prefix: str, group: str,
                 client_id: str, session_expiry_s: int, retention_s: float | None,
                 keepalive_s: int = 30,
                 configure: Callable[[paho.Client], None] | None = None,
                 known: Callable[[str], bool] | None = None) -> None:
        self.store = store
        self.known = known  # whether a stop id is the fleet's (None: every one)
        self.prefix = prefix
        self.group = group
        self.client_id = client_id
        self.retention_s = retention_s
        self.stats = CollectorStats(started=time.monotonic())
        self.dropped: Counter[str] = Counter()
        self.stop = threading.Event()
        self.subscribed = threading.Event()
        self.retiring = False
        self._q: queue.SimpleQueue[tuple[int, int, int, str, bytes, float]] = queue.SimpleQueue()
        self._generation = 0  # connection number: a mid is only acknowledged on its own one
        self._gen_lock = threading.Lock()
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=paho.MQTTv5, manual_ack=True)
        if configure is not None:
            configure(c)  # credentials and TLS, the way the other tools connect
        c.reconnect_delay_set(0.2, 10)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client = c
        self._connect = (host, port, keepalive_s, props)

    # ---------------- paho's thread ----------------
    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("collect_refused", reason=str(rc))
            return
        with self._gen_lock:
            self._generation += 1
        log.info("collect_connected", client_id=self.client_id, group=self.group,
                 session_present=bool(getattr(flags, "session_present", False)))
        if self.retiring:
            # no new messages for this session; what it has queued still comes
            client.unsubscribe([t for t, _ in subscriptions(self.prefix, self.group)])
            self.subscribed.set()
        else:
            client.subscribe(subscriptions(self.prefix, self.group))

    def _on_subscribe(self, _c: Any, _u: Any, _mid: Any, codes: Any, _p: Any) -> None:
        bad = [str(c) for c in codes if getattr(c, "is_failure", False)]
        if bad:
            log.error("collect_subscribe_refused", reasons=bad)
            return
        log.info("collect_subscribed", client_id=self.client_id, group=self.group,
                 filters=len(codes))
        self.subscribed.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        with self._gen_lock:
            self._generation += 1  # acknowledgements of the lost connection's messages are void
        if not self.stop.is_set():
            log.warning("collect_disconnected", reason=str(rc))

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self._q.put((self._generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload),
                     time.time()))

    # ---------------- writer ----------------
    def run(self) -> None:
        """Connect, then write and acknowledge until ``stop``; a clean disconnect at the end
        keeps the session (and so the group's share of messages) for the next start."""
        host, port, keepalive, props = self._connect
        self.client.connect(host, port, keepalive, clean_start=False, properties=props)
        self.client.loop_start()
        next_prune = 0.0
        try:
            while not self.stop.is_set():
                self._write_some(timeout=0.5)
                if self.retention_s is not None and time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + 3600.0
                    self._prune()
            self._write_some(timeout=0.0)  # what has arrived: written and acknowledged
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            log.info("collect_stopped", **self.stats.as_dict(self.dropped))

    def retire(self, quiet_s: float = 3.0) -> None:
        """Leave the share group for good without loss: connect with this client id, stop the
        broker sending the session new messages (unsubscribe), write and acknowledge what it
        had queued until nothing came for ``quiet_s``, then end the session (expiry 0)."""
        self.retiring = True
        host, port, keepalive, props = self._connect
        self.client.connect(host, port, keepalive, clean_start=False, properties=props)
        self.client.loop_start()
        drained = False
        try:
            if not self.subscribed.wait(30.0):
                raise OSError("no answer from the broker within 30 s")
            quiet_since = time.monotonic()
            while not self.stop.is_set() and time.monotonic() - quiet_since < quiet_s:
                before = self.stats.rows + sum(self.dropped.values())
                self._write_some(timeout=0.2)
                if self.stats.rows + sum(self.dropped.values()) != before:
                    quiet_since = time.monotonic()
            drained = not self.stop.is_set()
        finally:
            self.stop.set()
            end = None
            if drained:  # interrupted, it keeps the session (and what is left in it)
                end = Properties(PacketTypes.DISCONNECT)
                end.SessionExpiryInterval = 0
            self.client.disconnect(properties=end)
            self.client.loop_stop()
            log.info("collect_retired" if drained else "collect_retire_interrupted",
                     **self.stats.as_dict(self.dropped))

    def _take(self, timeout: float) -> list[tuple[int, int, int, str, bytes, float]]:
        try:
            first = self._q.get(timeout=timeout) if timeout > 0 else self._q.get_nowait()
        except queue.Empty:
            return []
        items = [first]
        while len(items) < MAX_BATCH:
            try:
                items.append(self._q.get_nowait())
            except queue.Empty:
                break
        return items

    def _write_some(self, timeout: float) -> None:
        items = self._take(timeout)
        if not items:
            return
        rows: list[tuple[str, dict[str, Any]]] = []
        for _gen, _mid, _qos, topic, payload, received in items:
            row = to_row(self.prefix, topic, payload, received, self.known)
            if isinstance(row, Refused):
                self._refused(row, topic)
                if row.kept:
                    rows.append(("dead_letters",
                                 dead_letter(topic, payload, received, row, self.prefix)))
            else:
                rows.append(row)
        if not self._store(rows):
            return  # stopped while the database was away: not acknowledged, the broker resends
        with self._gen_lock:
            gen = self._generation
        for g, mid, qos, *_ in items:
            if qos > 0 and g == gen:
                self.client.ack(mid, qos)

    def _refused(self, refused: Refused, topic: str) -> None:
        if not self.dropped[refused.reason.value]:
            log.warning("collect_dropped", reason=refused.reason.value, topic=topic[:200],
                        detail=refused.detail, kept_aside=refused.kept)
        self.dropped[refused.reason.value] += 1

    def _store(self, rows: list[tuple[str, dict[str, Any]]]) -> bool:
        """Every row stored, or kept aside when the database refuses it alone: True. While the
        database is away the rest is retried with back-off; False when ``stop`` came first."""
        delay = 0.5
        while rows:
            rows, away = self._write(rows)
            if away is None:
                break
            self.stats.retries += 1
            log.error("collect_write_failed", error=str(away).splitlines()[0][:300],
                      rows=len(rows), retry_in_s=delay)
            if self.stop.wait(delay):
                return False
            delay = min(delay * 2, 30.0)
        return True

    def _write(self, rows: list[tuple[str, dict[str, Any]]]
               ) -> tuple[list[tuple[str, dict[str, Any]]], Exception | None]:
        """Write ``rows`` in one transaction; when the database refuses one of them, one at a
        time, each refused row kept aside (``db_refused``) and the rows behind it stored. The
        rows not written yet and the error, when the database is away."""
        t0 = time.monotonic()
        try:
            self.store.write(_batch(rows))
        except Exception as exc:
            if not refuses_row(exc):
                return rows, exc
        else:
            self._written(rows, t0)
            return [], None
        for i, (table, row) in enumerate(rows):  # find the one, store the rest
            t0 = time.monotonic()
            try:
                self.store.write(_batch([(table, row)]))
            except Exception as exc:
                if not refuses_row(exc) or table == "dead_letters":
                    return rows[i:], exc
                refused = Refused(Dropped.DB_REFUSED, f"{type(exc).__name__}: {exc}")
                self._refused(refused, row.get("stop") or "")
                rows[i] = ("dead_letters", dead_letter(
                    f"{self.prefix}/{row.get('stop')}/{row.get('leaf') or _LEAF_OF[table]}",
                    _payload_of(row), time.time(), refused, self.prefix))
                try:
                    self.store.write(_batch([rows[i]]))
                except Exception as again:
                    return rows[i:], again
            else:
                self._written([(table, row)], t0)
        return [], None

    def _written(self, rows: list[tuple[str, dict[str, Any]]], t0: float) -> None:
        self.stats.write_s += time.monotonic() - t0
        self.stats.rows += sum(1 for table, _ in rows if table != "dead_letters")
        self.stats.batches += 1

    def _prune(self) -> None:
        assert self.retention_s is not None
        try:
            n = self.store.prune(time.time() - self.retention_s)
        except Exception as exc:
            log.error("collect_prune_failed", error=str(exc).splitlines()[0])
            return
        if n:
            log.info("collect_pruned", rows=n, retention_days=round(self.retention_s / 86400, 2))
