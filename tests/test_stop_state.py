"""What the maintenance crew sees on MQTT while the camera fails: the real stop (controller,
pipeline, gpiozero's mock relay, ``MqttService``) on a real mosquitto, fed by a scripted camera.

Each case was wrong before the stop had one owner of its state: a covered lens queued a light
event a frame, a black picture raised a read-back fault and sent no light event, and the
retained ``light/state`` stayed OFF while the fail-safe lit a blind stop.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from detector.base import DetectorResult
from edge.config import parse_config
from edge.mqtt.service import MqttService
from edge.runtime.frames import CameraError, Frame
from sim.scripted import scripted_stop
from tests.helpers import person
from tests.mqtt_fixtures import Collector

pytestmark = pytest.mark.mqtt
ROOT = "stopsafe/s1"
SCENE = np.random.default_rng(3).integers(40, 220, (48, 64, 3), dtype=np.uint8)
BLACK = np.zeros((48, 64, 3), np.uint8)


def config(broker, tmp: Path, **extra):
    return parse_config({
        "stop": {"id": "s1"}, "zone": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]},
        "waiting": {"dwell_s": 0.4}, "light": {"hold_s": 0.4},
        "tracker": {"confirm_hits": 1}, "health": {"black_s": 0.6},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "keepalive_s": 5,
                 "telemetry_s": 1, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
                 "outbox": {"path": str(tmp / "outbox.sqlite")}},
        **extra})


class Clip:
    """``script(i)`` -> 'person', 'empty', 'black' or 'lost' per read, frames ``dt`` apart on
    a clock of its own (``realtime``: the host's, pacing the reads)."""

    live = True
    fps = 20.0

    def __init__(self, script, n: int, dt: float = 0.2, realtime: bool = False) -> None:
        self.script, self.n, self.dt, self.realtime = script, n, dt, realtime
        self.i = 0
        self.t0 = time.monotonic()
        self.t = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0 if self.realtime else self.t

    def read(self):
        if self.i >= self.n:
            return None
        what = self.script(self.i)
        self.i += 1
        if self.realtime:
            time.sleep(self.dt)
        self.t = self.now() if self.realtime else self.t + self.dt
        if what == "lost":
            raise CameraError("scripted: no frame")
        return Frame(BLACK if what == "black" else SCENE, self.t, self.i)

    def who(self):
        return self.script(max(0, self.i - 1))

    def close(self) -> None:
        pass


def run(cfg, clip: Clip):
    svc = MqttService(cfg, seed=1)

    def detect(_image):
        return DetectorResult([person(0.5, 0.8)] if clip.who() == "person" else [])

    stop = scripted_stop(cfg, clip, detect, clip.now, mqtt=svc, health=True)
    return svc, stop


def events(live: Collector) -> list[dict]:
    return [json.loads(m.payload) for m in live.on(f"{ROOT}/event")]


def test_a_covered_lens_after_a_switch_on_gives_one_light_event(broker, tmp_path):
    live = Collector(broker, (f"{ROOT}/#",))
    cfg = config(broker, tmp_path)
    clip = Clip(lambda i: "person" if i < 10 else "black", 210)
    _svc, stop = run(cfg, clip)
    try:
        live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online")
        stop.run()
        tele = live.wait_for(lambda m: m.topic == f"{ROOT}/tele", after=live.mark(),
                             timeout=10)
    finally:
        stop.close()
    light = [e for e in events(live) if e["kind"] == "light"]
    assert [(e["on"], e["reason"]) for e in light] == [(True, "waiting"), (False, "shutdown")]
    assert json.loads(tele.payload)["light"]["switched_on_today"] == 1
    faults = [(e["fault"], e["active"]) for e in events(live) if e["kind"] == "fault"]
    # a covered lens is black at once, and the same (black) picture for 10 s is frozen too:
    # each raised once, not once a frame
    assert faults == [("camera_black", True), ("camera_frozen", True)]


def test_a_black_picture_at_an_empty_stop_sends_one_failsafe_light_event(broker, tmp_path):
    live = Collector(broker, (f"{ROOT}/#",))
    cfg = config(broker, tmp_path)
    _svc, stop = run(cfg, Clip(lambda i: "empty" if i < 5 else "black", 40))
    try:
        live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online")
        stop.run()
        live.wait_for(lambda m: m.topic == f"{ROOT}/light/state" and m.text == "ON")
    finally:
        stop.close()
    light = [e for e in events(live) if e["kind"] == "light"]
    assert [(e["on"], e["reason"]) for e in light] == [(True, "failsafe"), (False, "shutdown")]
    assert all(e["fault"] != "light_readback" for e in events(live) if e["kind"] == "fault")
    assert json.loads(live.on(f"{ROOT}/faults/state")[-1].payload) == ["camera_black"]


def test_the_retained_light_state_follows_the_relay_while_the_camera_is_lost(broker, tmp_path):
    live = Collector(broker, (f"{ROOT}/light/state",))
    cfg = config(broker, tmp_path, failsafe={"after_s": 1.0})
    # 1 s of an empty stop, 4 s without frames (the fail-safe lights it after 1 s), 2 s of an
    # empty stop again
    script = lambda i: "lost" if 10 <= i < 50 else "empty"  # noqa: E731
    clip = Clip(script, 70, dt=0.1, realtime=True)
    switched: list[tuple[float, bool]] = []

    class Relay:
        def on_record(self, r):
            if r.switched:
                switched.append((time.monotonic(), r.light_on))

        def close(self):
            pass

    svc = MqttService(cfg, seed=1)
    stop = scripted_stop(cfg, clip, lambda _i: DetectorResult(), clip.now, sinks=[Relay()],
                         mqtt=svc, health=False)
    try:
        live.wait_for(lambda m: m.text == "OFF")
        stop.run()
    finally:
        stop.close()
    assert [on for _, on in switched] == [True, False]
    (on_at, _), (off_at, _) = switched[0], switched[1]
    on_msg = live.wait_for(lambda m: m.text == "ON")
    off_msg = live.wait_for(lambda m: m.text == "OFF" and m.at > on_msg.at)
    assert 0.0 <= on_msg.at - on_at <= 1.0, on_msg.at - on_at
    assert 0.0 <= off_msg.at - off_at <= 1.0, off_msg.at - off_at
