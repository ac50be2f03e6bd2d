"""A real mosquitto for the MQTT tests, on a free loopback port with its own config file, and a
subscriber that records every message (topic, payload, retain flag, arrival time)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sim.broker import MOSQUITTO, Broker, free_port  # noqa: F401 (re-exported)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not os.path.exists(MOSQUITTO):
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is not installed (make system-packages)")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    folder = tmp_path / "broker"
    folder.mkdir()
    b = Broker(folder)
    b.start()
    yield b
    b.stop()


@dataclass
class Msg:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() on arrival
    properties: object | None = None

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")


class Collector:
    """Records everything on ``topics``; reconnects by itself (with a persistent session when
    ``session`` is set, so a restarted broker with persistence keeps queuing for it)."""

    def __init__(self, broker: Broker, topics: tuple[str, ...] = ("#",), session: bool = False,
                 v5: bool = True, auth: tuple[str, str] | None = None) -> None:
        self.messages: list[Msg] = []
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.topics = topics
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"collector-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else not session)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        if v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            if session:
                props.SessionExpiryInterval = 3600
            self.client.connect(broker.host, broker.port, 30, clean_start=not session,
                                properties=props)
        else:
            self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        assert self.subscribed.wait(5), "collector did not subscribe"

    def _on_connect(self, client, _u, flags, rc, _p) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, _c, _u, msg) -> None:
        with self.cond:
            self.messages.append(Msg(msg.topic, bytes(msg.payload), bool(msg.retain),
                                     time.monotonic(), getattr(msg, "properties", None)))
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[Msg], bool], timeout: float = 10.0,
                 after: int = 0) -> Msg:
        """The first message (from index ``after``) that matches ``pred``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages[after:]:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.payload[:80]) for m in self.messages[-20:]]
                    raise AssertionError(f"no matching message within {timeout} s; last: {seen}")
                self.cond.wait(left)

    def on(self, topic: str) -> list[Msg]:
        with self.cond:
            return [m for m in self.messages if m.topic == topic]

    def mark(self) -> int:
        with self.cond:
            return len(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
