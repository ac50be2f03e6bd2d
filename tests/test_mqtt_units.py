"""Each unit of the maintenance link alone (edge/mqtt/: drain, state publisher, link faults,
command responder, discovery announcer): built on a real ``Link`` to a real mosquitto, with a
small owner that routes the link's calls to that one unit, and no ``MqttService``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from edge.config import Config, parse_config
from edge.decision.controller import StopState, TickKind
from edge.decision.events import LightSwitched
from edge.decision.light_rules import LightMode, LightReason
from edge.mqtt.announcer import DiscoveryAnnouncer, discovery_subscriptions
from edge.mqtt.commands import CommandHandler
from edge.mqtt.drain import OutboxDrain
from edge.mqtt.link import Link, LinkRunner
from edge.mqtt.link_faults import LinkFaults
from edge.mqtt.responder import CommandResponder
from edge.mqtt.service import link_settings
from edge.mqtt.state import StatePublisher
from edge.runtime.control import CommandFailed
from edge.runtime.faults import FaultRegistry
from edge.runtime.frames import Frame
from edge.runtime.outbox import MEMORY, Outbox, OutboxHealth
from edge.runtime.pipeline import StopRecord
from edge.wire import Failure, Fault, Leaf, State, Topics
from tests.mqtt_fixtures import Collector, broker  # noqa: F401 (fixture)

STOP = "u1"


def config(broker, **mqtt: Any) -> Config:  # noqa: F811
    m = {"enabled": True, "host": broker.host, "port": broker.port, "keepalive_s": 5,
         "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "outbox": {"path": MEMORY}, **mqtt}
    return parse_config({"stop": {"id": STOP, "name": "Unit stop"}, "mqtt": m})


class Owner:
    """The link's owner for one unit: ``connected``/``message``/``tick`` are what the unit
    does in the link's thread."""

    def __init__(self) -> None:
        self.connected: Callable[[Link], None] = lambda link: None
        self.message: Callable[[Link, Any], None] = lambda link, msg: None
        self.tick_fn: Callable[[Link, float], None] = lambda link, now: None

    def on_connected(self, link: Link) -> None:
        self.connected(link)

    def on_message(self, link: Link, msg: Any) -> None:
        self.message(link, msg)

    def tick(self, link: Link, now: float) -> None:
        self.tick_fn(link, now)


class Rig:
    """A real link (and its runner thread) for ``cfg``, subscribed to ``subs``."""

    def __init__(self, cfg: Config, subs: tuple[str, ...] = ()) -> None:
        self.topics = Topics(cfg.mqtt.prefix, cfg.stop.id)
        self.owner = Owner()
        self.link = Link(link_settings(cfg, self.topics, {}, None, subs),
                         Outbox(MEMORY, 1000, cfg.mqtt.outbox.drop), self.owner)
        self.runner = LinkRunner(tick_s=0.02, name="unit-link")

    def start(self) -> Rig:
        self.runner.add(self.link)
        self.runner.start()
        deadline = time.monotonic() + 10
        while not self.link.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.link.connected
        return self

    def in_link_thread(self, fn: Callable[[], Any]) -> Any:
        done: Future[Any] = Future()
        self.runner.call(lambda: done.set_result(fn()))
        return done.result(timeout=5)

    def close(self) -> None:
        if self.runner.is_alive():
            self.runner.stop()
            self.runner.join(timeout=2)


@pytest.fixture
def rig(broker):  # noqa: F811
    rigs: list[Rig] = []

    def make(cfg: Config, subs: tuple[str, ...] = ()) -> Rig:
        rigs.append(Rig(cfg, subs))
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()


def test_drain_hands_nothing_to_the_link_until_drained_in_its_thread(broker, rig):  # noqa: F811
    r = rig(config(broker)).start()
    calls: list[Callable[[], None]] = []
    drain = OutboxDrain(r.link, r.topics, calls.append)
    seen = Collector(broker, (f"stopsafe/{STOP}/#",))
    worker = threading.Thread(target=lambda: (
        drain.state(State.WAITING, "2"), drain.event({"kind": "mode", "n": 1}),
        drain.fault(frozenset({Fault.CAMERA_LOST}), {"kind": "fault", "n": 2})))
    worker.start()
    worker.join()
    assert r.link.retained == {} and len(r.link.outbox) == 0  # queued only
    drain.drain_soon()
    assert calls == [drain.drain]  # handed to the link's thread, not run here
    r.in_link_thread(drain.drain)
    assert r.link.retained[r.topics.leaf(State.WAITING)] == "2"
    assert r.link.retained[r.topics.leaf(State.FAULTS)] == '["camera_lost"]'
    seen.wait_for(lambda m: m.topic == r.topics.leaf(State.FAULTS)
                  and m.payload == b'["camera_lost"]')
    seen.wait_for(lambda m: m.topic == r.topics.event and b'"n":2' in m.payload)
    events = [json.loads(m.payload) for m in seen.on(r.topics.event)]
    assert [(e["n"], e["seq"]) for e in events] == [(1, 1), (2, 2)]  # in order, each a seq
    seen.close()


def record(light: bool, t: float, events=()) -> StopRecord:
    """A stop record as the pipeline makes it (a detected frame; the light as decided)."""
    reason = LightReason.WAITING if light else LightReason.NOBODY_WAITING
    state = StopState(t=t, light=light, reason=reason,
                      mode=LightMode.AUTO, in_service=True, occupancy=int(light),
                      waiting=int(light), people=(), tentative=False, seeing=True, blind_s=0.0,
                      failsafe=False)
    return StopRecord(t=t, kind=TickKind.DETECTED, state=state, events=tuple(events),
                      light_set=light, light_on=light, switched=bool(events),
                      frame=Frame(np.zeros((4, 4, 3), np.uint8), t, int(t * 10)),
                      invokes=1, times_ms={"invoke": 5.0})


def test_state_publisher_queues_only_changes_and_counts_for_telemetry(broker, rig):  # noqa: F811
    cfg = config(broker, telemetry_s=1)
    r = rig(cfg)
    drain = OutboxDrain(r.link, r.topics, lambda fn: None)
    pub = StatePublisher(lambda: cfg, r.link, r.topics, drain, time.monotonic,
                         started=time.monotonic(), commands=lambda: {"accepted": 0},
                         active_faults=lambda: frozenset({Fault.OUTBOX_FAILED}))
    assert r.link.retained[r.topics.leaf(State.LIGHT)] == "OFF"  # the relay starts off
    on = LightSwitched(1.0, True, LightReason.WAITING, LightMode.AUTO, 1)
    pub.on_record(record(True, 1.0, [on]))
    pub.on_record(record(True, 1.5))  # nothing changed: nothing queued
    r.owner.connected = pub.on_connected
    r.owner.tick_fn = lambda link, now: (drain.drain(), pub.tick(link, now))
    seen = Collector(broker, (f"stopsafe/{STOP}/#",))
    r.start()
    tele = json.loads(seen.wait_for(lambda m: m.topic == r.topics.tele, timeout=10).payload)
    assert r.link.retained[r.topics.leaf(State.LIGHT)] == "ON"
    event = json.loads(seen.wait_for(lambda m: m.topic == r.topics.event).payload)
    assert (event["kind"], event["on"], event["reason"]) == ("light", True, "waiting")
    assert [m.payload for m in seen.on(r.topics.leaf(State.LIGHT))].count(b"ON") == 1
    assert tele["light"] == {"on": True, "mode": "AUTO", "on_s_today": 0.5,
                             "switched_on_today": 1}
    assert tele["faults"] == ["outbox_failed"] and tele["commands"] == {"accepted": 0}
    assert pub.last_record() is not None and pub.last_record().t == 1.5
    seen.close()


def test_link_faults_wait_for_the_stop_then_go_to_its_one_writer():
    now = [100.0]
    ages: list[float | None] = [None]
    faults = LinkFaults(lambda: 5.0, lambda t: ages[0], started=100.0)
    faults.outbox_health(OutboxHealth.FAILED, True, {"error": "disk full"})
    faults.outbox_health(OutboxHealth.CORRUPT, True, {"moved_to": "x"})
    faults.outbox_health(OutboxHealth.CORRUPT, False, {})  # raised and cleared before binding
    faults.check_camera(now[0] + 60)  # not bound: nothing to report to
    registry = FaultRegistry(clock=lambda: now[0])
    reports: list[tuple[Fault, bool]] = []

    def report(fault: Fault, active: bool, **detail: Any) -> None:
        reports.append((fault, active))
        registry.set(fault, active, **detail)

    faults.bind(report, registry.active)
    assert reports == [(Fault.OUTBOX_FAILED, True)]
    assert faults.active() == {Fault.OUTBOX_FAILED}
    faults.check_camera(104.0)  # no frame yet, 4 s since the start: not stale
    assert not registry.is_active(Fault.CAMERA_STALE)
    faults.check_camera(105.5)
    assert registry.is_active(Fault.CAMERA_STALE)
    ages[0] = 0.1  # a frame came
    faults.check_camera(106.0)
    assert not registry.is_active(Fault.CAMERA_STALE)
    assert registry.active()[Fault.OUTBOX_FAILED].detail == {"error": "disk full"}


class StopControl:
    """The stop's side of the one Control protocol, as the stop answers it: checks of its own
    relay and model, its last picture."""

    def __init__(self, relay_ok: bool) -> None:
        self.relay_ok = relay_ok
        self.modes: list[tuple[LightMode, float | None]] = []
        self.republished = 0

    @staticmethod
    def _done(value: Any = None, exc: BaseException | None = None) -> Future[dict[str, Any]]:
        f: Future[dict[str, Any]] = Future()
        if exc is not None:
            f.set_exception(exc)
        else:
            f.set_result(value)
        return f

    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        self.modes.append((mode, for_s))

    def reload(self) -> Future[dict[str, Any]]:
        return self._done({"applied": ["zone"], "restart_needed": []})

    def selftest(self) -> Future[dict[str, Any]]:
        checks = {"relay": {"ok": self.relay_ok}, "model": {"ok": True, "people": 0}}
        if not self.relay_ok:
            return self._done(exc=CommandFailed(Failure.SELFTEST_FAILED, "failed: relay",
                                                checks=checks))
        return self._done({"checks": checks})

    def snapshot(self) -> Future[dict[str, Any]]:
        return self._done({"image": np.full((48, 64, 3), 90, np.uint8),
                           "boxes": [(0.1, 0.1, 0.5, 0.9)]})

    def republish(self) -> None:
        self.republished += 1


def test_command_responder_answers_on_the_broker_and_adds_what_the_link_knows(broker, rig):  # noqa: F811
    cfg = config(broker, cmd_rate_per_s=100, cmd_burst=100)
    r = rig(cfg, (Topics(cfg.mqtt.prefix, STOP).cmd_filter,))
    handler = CommandHandler(cfg.mqtt.cmd_max_bytes, 100, 100, snapshots=True)
    said_again: list[int] = []
    responder = CommandResponder(handler, r.link, r.topics, time.monotonic,
                                 frame_age_s=lambda now: 0.5, camera_stale_s=lambda: 5.0,
                                 republish=lambda: said_again.append(1))
    r.owner.message = lambda link, msg: responder.on_command(
        r.topics.command_name(msg.topic), msg)
    r.owner.tick_fn = lambda link, now: responder.tick(now)
    r.start()
    seen = Collector(broker, (f"stopsafe/{STOP}/#",))

    def ask(name: str, payload: str, retain: bool = False) -> dict[str, Any]:
        mark = seen.mark()
        seen.client.publish(r.topics.cmd(name), payload, qos=1, retain=retain)
        msg = seen.wait_for(lambda m: m.topic == r.topics.result(name), after=mark)
        return json.loads(msg.payload)

    assert ask("light", "ON")["error"] == "not_ready"  # no stop attached yet
    stop = StopControl(relay_ok=True)
    responder.attach(stop)
    assert ask("light", '{"mode": "ON", "for_s": 60, "id": 7}')["ok"]
    assert stop.modes == [(LightMode.FORCE_ON, 60.0)]
    assert ask("reload", "{}")["applied"] == ["zone"]
    assert ask("status", "")["ok"] and said_again == [1]
    test = ask("selftest", "{}")
    assert test["ok"], test
    assert set(test["checks"]) == {"relay", "model", "camera", "broker"}
    assert test["checks"]["broker"]["ok"] and test["checks"]["camera"]["frame_age_s"] == 0.5
    shot = ask("snapshot", "{}")
    assert shot["ok"] and shot["people_blurred"] == 1
    jpeg = seen.wait_for(lambda m: m.topic == r.topics.leaf(Leaf.SNAPSHOT)).payload
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) == shot["bytes"]
    responder.attach(StopControl(relay_ok=False))
    failed = ask("selftest", "{}")
    assert failed["error"] == "selftest_failed" and failed["detail"] == "failed: relay"
    assert failed["checks"]["broker"]["ok"]  # the link's checks are there beside the stop's
    assert ask("light", "OFF", retain=True)["error"] == "retained"
    assert stop.modes == [(LightMode.FORCE_ON, 60.0)]  # a retained command never acts
    seen.close()


def test_discovery_announcer_publishes_its_configs_and_clears_a_stale_one(broker, rig):  # noqa: F811
    cfg = config(broker, discovery=True)
    stale_topic = f"homeassistant/binary_sensor/{STOP}/old_thing/config"
    seed = Collector(broker, ("seed/none",))
    # an entity an older stopsafe set up for this stop (its unique id is this stop's)
    seed.client.publish(stale_topic, json.dumps({"unique_id": f"stopsafe_{STOP}_old_thing",
                                                 "name": "old"}),
                        qos=1, retain=True).wait_for_publish(5)
    seed.close()
    r = rig(cfg, discovery_subscriptions(cfg.mqtt, STOP))
    ann = DiscoveryAnnouncer(cfg.mqtt, STOP, cfg.stop.name, r.topics, r.link, time.monotonic,
                             snapshots=False)
    assert ann.configs  # the configs are made from the config alone
    r.owner.connected = lambda link: ann.on_connected()
    r.owner.message = lambda link, msg: ann.on_message(msg)
    r.owner.tick_fn = ann.tick
    seen = Collector(broker, ("homeassistant/#",))
    mark = seen.mark()
    r.start()
    seen.wait_for(lambda m: m.topic == stale_topic and not m.payload, after=mark, timeout=10)
    published = {m.topic for m in seen.messages[mark:] if m.payload}
    assert set(ann.configs) <= published
    assert ann.on_message(type("Msg", (), {"topic": f"stopsafe/{STOP}/cmd/light"})()) is False
    seen.close()
