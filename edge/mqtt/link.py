"""The connection of one stop to the broker, and the thread that drives any number of them.

A ``Link`` owns a paho client, the stop's retained values and its event outbox. It is driven by a
``LinkRunner``: one thread with a selector over the links' sockets (paho's external-loop API:
``loop_read``/``loop_write``/``loop_misc``), so the daemon needs one thread for its link and
fleet-sim one thread for a thousand. Nothing here is ever called from the frame path; the
publisher hands its messages over through a queue.

Every connection starts with a fresh paho client and a clean session: nothing paho queued for the
old connection is sent again (that would put stale retained values over fresh ones). Instead, on
every connect the link publishes ``status`` ``online``, every retained value it holds, and the
outbox's unacknowledged events in order. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import contextlib
import json
import random
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from queue import Empty, SimpleQueue
from typing import Any, Protocol

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config import MqttProtocol, MqttTlsConfig
from edge.runtime.outbox import Outbox
from edge.wire import Status, Topics

log = structlog.get_logger("stopsafe.mqtt.link")

EVENT_WINDOW = 10  # events in flight (sent, not yet acknowledged) at once
CONNACK_TIMEOUT_S = 10.0


class LinkState(str, Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class LinkSettings:
    """Filled in one place (``edge.mqtt.service.link_settings``) from the mqtt section."""

    topics: Topics
    host: str
    port: int
    keepalive_s: int
    protocol: MqttProtocol
    client_id: str
    username: str | None
    password: str | None = field(repr=False)  # never logged
    tls: MqttTlsConfig
    reconnect_min_s: float
    reconnect_max_s: float
    subscriptions: tuple[str, ...]
    # MQTT 5: the largest packet the broker may send us (CONNECT's Maximum Packet Size); a larger
    # message is never delivered, so a giant payload is not even read. None: no limit asked.
    max_packet_bytes: int | None


class LinkOwner(Protocol):
    """What a link tells the code that decides what to publish (in the runner's thread)."""

    def on_connected(self, link: Link) -> None: ...

    def on_message(self, link: Link, msg: paho.MQTTMessage) -> None: ...

    def tick(self, link: Link, now: float) -> None: ...


def backoff_s(attempt: int, lo: float, hi: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random, so a fleet that lost
    its broker at the same moment does not come back at the same moment."""
    ceiling = min(hi, lo * (2 ** min(attempt, 30)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def paho_client(client_id: str, protocol: MqttProtocol, username: str | None,
                password: str | None, tls: MqttTlsConfig) -> paho.Client:
    """The one way a paho client is made (the daemon's link, the console, fleet tools): the
    protocol, credentials and TLS as the config says; callbacks and connecting are the
    caller's."""
    v5 = protocol is MqttProtocol.V5
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                    clean_session=None if v5 else True)
    apply_auth(c, username, password, tls)
    return c


def apply_auth(c: paho.Client, username: str | None, password: str | None,
               tls: MqttTlsConfig) -> None:
    """Credentials and TLS on a paho client, the one way (also for clients that need options
    of their own, like the history collector's manual acknowledgements)."""
    if username is not None or password is not None:
        c.username_pw_set(username or "", password)
    if tls.enabled:
        c.tls_set(ca_certs=str(tls.ca_file) if tls.ca_file else None,
                  certfile=str(tls.cert_file) if tls.cert_file else None,
                  keyfile=str(tls.key_file) if tls.key_file else None,
                  cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)


class Link:
    """One stop's connection; every method runs in its runner's thread."""

    def __init__(self, settings: LinkSettings, outbox: Outbox, owner: LinkOwner,
                 rng: random.Random | None = None) -> None:
        self.s = settings
        self.topics = settings.topics
        self.outbox = outbox
        self.owner = owner
        self.rng = rng or random.Random()
        self.state = LinkState.DISCONNECTED
        self.client: paho.Client | None = None
        self.retained: dict[str, str] = {}
        self.connects = 0
        self.attempt = 0
        self.next_attempt = 0.0
        self.connecting_since = 0.0
        self.closed = threading.Event()
        self._close_deadline = 0.0
        self._inflight: dict[int, int] = {}  # paho mid -> event seq
        self._sent_upto = 0
        self._acks: dict[int, Callable[[bool], None]] = {}  # mid -> callback on PUBACK
        self._stopped_mid: int | None = None
        self._runner: LinkRunner | None = None
        self._logged_down = False
        self._zombies: list[paho.Client] = []

    # ---- what the owner calls ----
    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    def publish(self, topic: str, payload: str | bytes, qos: int = 0, retain: bool = False,
                properties: Properties | None = None,
                on_ack: Callable[[bool], None] | None = None) -> bool:
        """Send now if connected; False (nothing queued) otherwise."""
        if self.client is None or self.state not in (LinkState.CONNECTED, LinkState.CLOSING):
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain,
                                   properties=properties)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if on_ack is not None and qos > 0:
            self._acks[info.mid] = on_ack
        return True

    def set_retained(self, topic: str, payload: str) -> None:
        """Remember a retained value and publish it when it changed (again on every connect)."""
        if self.retained.get(topic) == payload:
            return
        self.retained[topic] = payload
        self.publish(topic, payload, qos=1, retain=True)

    def republish(self) -> None:
        """``status`` ``online``, then every retained value again (each connect, ``status``)."""
        self.publish(self.topics.status, Status.ONLINE.value, qos=1, retain=True)
        for topic, payload in self.retained.items():
            self.publish(topic, payload, qos=1, retain=True)

    def add_event(self, event: dict[str, Any]) -> int | None:
        seq = self.outbox.append(event)
        self._pump()
        return seq

    @property
    def mqtt5(self) -> bool:
        return self.s.protocol is MqttProtocol.V5

    # ---- connection ----
    def _new_client(self) -> paho.Client:
        c = paho_client(self.s.client_id, self.s.protocol, self.s.username, self.s.password,
                        self.s.tls)
        c.will_set(self.topics.status, Status.OFFLINE.value, qos=1, retain=True)
        c.max_inflight_messages_set(max(20, EVENT_WINDOW + 10))
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        return c

    def _try_connect(self, now: float) -> None:
        self.client = self._new_client()
        self.state = LinkState.CONNECTING
        self.connecting_since = now
        try:
            if self.mqtt5:
                props = None
                if self.s.max_packet_bytes is not None:
                    props = Properties(PacketTypes.CONNECT)
                    props.MaximumPacketSize = self.s.max_packet_bytes
                self.client.connect(self.s.host, self.s.port, self.s.keepalive_s,
                                    clean_start=True, properties=props)
            else:
                self.client.connect(self.s.host, self.s.port, self.s.keepalive_s)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._lost(now, f"{type(exc).__name__}: {exc}")

    def _lost(self, now: float, why: str) -> None:
        """The connection is gone (or never came): back off, keep every retained value."""
        was = self.state
        client, self.client = self.client, None
        if client is not None:
            # closed later, outside paho's callbacks (its socket-close takes a lock they hold)
            self._zombies.append(client)
        self._inflight.clear()
        self._acks.clear()
        self._sent_upto = 0
        if was is LinkState.CLOSING:
            self._finish_close()
            return
        self.state = LinkState.DISCONNECTED
        delay = backoff_s(self.attempt, self.s.reconnect_min_s, self.s.reconnect_max_s, self.rng)
        self.attempt += 1
        self.next_attempt = now + delay
        if was is LinkState.CONNECTED or not self._logged_down:
            log.warning("mqtt_disconnected" if was is LinkState.CONNECTED else "mqtt_unreachable",
                        host=self.s.host, port=self.s.port, reason=why[:200],
                        retry_in_s=round(delay, 2), stop_id=self.topics.stop_id)
            self._logged_down = True

    # ---- paho callbacks (runner thread) ----
    def _on_socket_open(self, client: paho.Client, _u: Any, sock: Any) -> None:
        if self._runner is not None:
            self._runner.register(sock, self)

    def _on_socket_close(self, client: paho.Client, _u: Any, sock: Any) -> None:
        if self._runner is not None:
            self._runner.unregister(sock)

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, props: Any) -> None:
        if client is not self.client:
            return
        if rc.is_failure:
            log.error("mqtt_refused", host=self.s.host, port=self.s.port, reason=str(rc),
                      stop_id=self.topics.stop_id)
            self._lost(time.monotonic(), f"refused: {rc}")
            return
        self.state = LinkState.CONNECTED
        self.attempt = 0
        self.connects += 1
        self._logged_down = False
        log.info("mqtt_connected", host=self.s.host, port=self.s.port, connects=self.connects,
                 stop_id=self.topics.stop_id, events_queued=len(self.outbox))
        for topic in self.s.subscriptions:
            if self.mqtt5:
                # no echo of our own publishes (clearing a retained command), and the retain
                # flag as published, so a retained command is known as one even when it is sent
                # while we are connected
                client.subscribe(topic, options=SubscribeOptions(
                    qos=1, noLocal=True, retainAsPublished=True))
            else:
                client.subscribe(topic, qos=1)
        self.republish()
        self.owner.on_connected(self)
        self._pump()

    def _on_disconnect(self, client: paho.Client, _u: Any, flags: Any, rc: Any,
                       props: Any) -> None:
        if client is self.client:
            self._lost(time.monotonic(), str(rc))

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        if client is not self.client:
            return
        try:
            self.owner.on_message(self, msg)
        except Exception as exc:  # a bug in handling one message must not kill the link
            log.exception("mqtt_message_failed", topic=msg.topic[:200], error=repr(exc)[:200])

    def _on_publish(self, client: paho.Client, _u: Any, mid: int, rc: Any, props: Any) -> None:
        if client is not self.client:
            return
        ok = not getattr(rc, "is_failure", False)
        seq = self._inflight.pop(mid, None)
        if seq is not None:
            if not ok:  # e.g. not authorized: it will never be accepted; do not retry forever
                log.error("event_refused", seq=seq, reason=str(rc))
            self.outbox.ack(seq)
            self._pump()
        cb = self._acks.pop(mid, None)
        if cb is not None:
            cb(ok)
        if mid == self._stopped_mid:
            self._stopped_mid = -1

    # ---- events ----
    def _pump(self) -> None:
        """Send the next unacknowledged events, oldest first, a window at a time."""
        if self.state not in (LinkState.CONNECTED, LinkState.CLOSING) or self.client is None:
            return
        room = EVENT_WINDOW - len(self._inflight)
        if room <= 0:
            return
        for seq, body in self.outbox.after(self._sent_upto, room):
            body["seq"] = seq
            info = self.client.publish(self.topics.event, json.dumps(body, separators=(",", ":")),
                                       qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            self._inflight[info.mid] = seq
            self._sent_upto = seq

    # ---- driven by the runner ----
    def service(self, now: float) -> None:
        self._bury()
        if self.state is LinkState.CLOSED:
            return
        if self.outbox.health:  # a failed disk is tried again now and then
            self.outbox.retry()
        if self.state is LinkState.DISCONNECTED and now >= self.next_attempt:
            self._try_connect(now)
        c = self.client
        if c is not None:
            if c.want_write():
                c.loop_write()
            if c.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS and self.client is c:
                self._lost(now, "keepalive")
            if (self.state is LinkState.CONNECTING
                    and now - self.connecting_since > CONNACK_TIMEOUT_S):
                self._lost(now, "no CONNACK")
        if self.state is not LinkState.CLOSING:
            self.owner.tick(self, now)
        elif (now >= self._close_deadline
              or (self._stopped_mid == -1 and not self._inflight and not len(self.outbox))):
            self._disconnect_cleanly()

    def _bury(self) -> None:
        while self._zombies:
            with contextlib.suppress(Exception):  # paho has no public 'drop the socket'
                self._zombies.pop()._sock_close()

    def readable(self) -> None:
        c = self.client
        if c is None:
            self._bury()
            return
        c.loop_read()
        sock = c.socket()
        while self.client is c and isinstance(sock, ssl.SSLSocket) and sock.pending():
            c.loop_read()

    def begin_close(self, stopped_payload: str, grace_s: float, now: float) -> None:
        """Clean exit: ``status`` ``stopped``, let the outbox drain up to ``grace_s``, then a
        normal DISCONNECT (no last will)."""
        self.retained[self.topics.status] = stopped_payload
        if self.state is not LinkState.CONNECTED or self.client is None:
            self._finish_close()
            return
        self.state = LinkState.CLOSING
        self._close_deadline = now + grace_s
        info = self.client.publish(self.topics.status, stopped_payload, qos=1, retain=True)
        self._stopped_mid = info.mid if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else -1

    def _disconnect_cleanly(self) -> None:
        c = self.client
        if c is not None:
            with contextlib.suppress(Exception):  # leaving anyway
                c.disconnect()  # writes DISCONNECT, then paho closes and calls on_disconnect
                if c.want_write():
                    c.loop_write()
            if self.client is c:
                self._zombies.append(c)
        self.client = None
        self._finish_close()

    def _finish_close(self) -> None:
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        self.outbox.close()
        self.closed.set()


class LinkRunner(threading.Thread):
    """One thread driving many links: a selector over their sockets plus a periodic tick."""

    def __init__(self, tick_s: float = 0.05, name: str = "mqtt-link") -> None:
        super().__init__(name=name, daemon=True)
        self.tick_s = tick_s
        self.links: list[Link] = []
        self._sel = selectors.DefaultSelector()
        self._calls: SimpleQueue[Callable[[], None]] = SimpleQueue()
        self._halt = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)

    def add(self, link: Link) -> None:
        """Before start(), or from any thread (then it is added in the runner's thread)."""
        link._runner = self
        if self.is_alive():
            self.call(lambda: self.links.append(link))
        else:
            self.links.append(link)

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the runner's thread soon (thread-safe, never blocks)."""
        self._calls.put(fn)
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    def register(self, sock: Any, link: Link) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.register(sock, selectors.EVENT_READ, link)

    def unregister(self, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)

    def stop(self) -> None:
        self._halt.set()
        self.wake()

    def run(self) -> None:
        next_tick = 0.0
        while not self._halt.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            for key, _mask in self._sel.select(timeout):
                if key.data is None:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                    continue
                try:
                    key.data.readable()
                except Exception as exc:
                    log.exception("mqtt_read_failed", error=repr(exc)[:200])
            while True:
                try:
                    fn = self._calls.get_nowait()
                except Empty:
                    break
                try:
                    fn()
                except Exception as exc:
                    log.exception("mqtt_call_failed", error=repr(exc)[:200])
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.tick_s
                for link in self.links:
                    try:
                        link.service(now)
                    except Exception as exc:
                        log.exception("mqtt_service_failed", error=repr(exc)[:200])
                for link in self.links:
                    if link.state is LinkState.CLOSED:
                        link._bury()
                self.links = [x for x in self.links if x.state is not LinkState.CLOSED]
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
