"""``stopsafe collect``: every stop's events, status, retained states and telemetry into the
history database, through an MQTT 5 shared subscription.

Several collectors with the same ``group`` split the fleet's messages between them (the broker
hands each message to one member). Each has a persistent session (``clean_start`` False and a
session expiry) and acknowledges a QoS 1 message only after its row is committed, so a collector
that dies (even ``kill -9``) loses nothing: the broker resends what it had not acknowledged and
keeps what arrived meanwhile until it reconnects with the same client id. A message resent after
its row was already committed is an event with a known (stop, seq), which the database drops.

Threads: paho's network thread only puts messages on a queue; one writer thread takes whatever
has arrived, writes it in one transaction, then acknowledges it. A database error is retried
(with back-off) without acknowledging, so the broker keeps the messages meanwhile.

Retained messages are not sent to a shared subscription when it is made (MQTT 5, 4.8.2): the
history starts with the first change after the collector first subscribed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.wire import Leaf, State, fleet_filter, shared_filter, split_stop_topic
from fleet.history.schema import STOP_ID_LEN
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
    """Why a message was acknowledged without a row (counted, logged once per reason)."""

    FOREIGN_TOPIC = "foreign_topic"
    STOP_ID_TOO_LONG = "stop_id_too_long"
    NOT_UTF8 = "not_utf8"
    EVENT_NOT_JSON = "event_not_json"
    EVENT_WITHOUT_SEQ = "event_without_seq"
    OTHER_LEAF = "other_leaf"


def to_row(prefix: str, topic: str, payload: bytes, received: float
           ) -> tuple[str, dict[str, Any]] | Dropped:
    """The table and row for one message, or why it has none. Pure."""
    where = split_stop_topic(prefix, topic)
    if where is None:
        return Dropped.FOREIGN_TOPIC
    stop, leaf = where
    if len(stop) > STOP_ID_LEN:
        return Dropped.STOP_ID_TOO_LONG
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Dropped.NOT_UTF8
    if leaf == Leaf.EVENT.value:
        try:
            ev = json.loads(text)
        except ValueError:
            return Dropped.EVENT_NOT_JSON
        seq = ev.get("seq") if isinstance(ev, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            return Dropped.EVENT_WITHOUT_SEQ
        return "events", {"stop": stop, "seq": seq, "kind": str(ev.get("kind"))[:32],
                          "ts": _epoch(ev.get("ts"), received), "received": received,
                          "body": text}
    if leaf == Leaf.TELE.value:
        return "tele", {"stop": stop, "at": received, "body": text}
    if leaf in STATE_LEAVES:
        return "states", {"stop": stop, "leaf": leaf, "at": received, "value": text}
    return Dropped.OTHER_LEAF


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
                 configure: Callable[[paho.Client], None] | None = None) -> None:
        self.store = store
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
        batch = Batch()
        for _gen, _mid, _qos, topic, payload, received in items:
            row = to_row(self.prefix, topic, payload, received)
            if isinstance(row, Dropped):
                if not self.dropped[row.value]:
                    log.warning("collect_dropped", reason=row.value, topic=topic)
                self.dropped[row.value] += 1
            else:
                getattr(batch, row[0]).append(row[1])
        delay = 0.5
        while True:
            t0 = time.monotonic()
            try:
                self.store.write(batch)
                break
            except Exception as exc:  # the database is away or refused: keep, retry, no ack
                self.stats.retries += 1
                log.error("collect_write_failed", error=str(exc).splitlines()[0],
                          rows=len(batch), retry_in_s=delay)
                if self.stop.wait(delay):
                    return  # not acknowledged: the broker resends them to the group
                delay = min(delay * 2, 30.0)
        self.stats.write_s += time.monotonic() - t0
        self.stats.rows += len(batch)
        self.stats.batches += 1
        with self._gen_lock:
            gen = self._generation
        for g, mid, qos, *_ in items:
            if qos > 0 and g == gen:
                self.client.ack(mid, qos)

    def _prune(self) -> None:
        assert self.retention_s is not None
        try:
            n = self.store.prune(time.time() - self.retention_s)
        except Exception as exc:
            log.error("collect_prune_failed", error=str(exc).splitlines()[0])
            return
        if n:
            log.info("collect_pruned", rows=n, retention_days=round(self.retention_s / 86400, 2))
