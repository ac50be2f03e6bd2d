"""The static_object and light_max_on faults over a real mosquitto: raised with the object's box
in the event and in faults/state, cleared when the object goes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.helpers import person
from tests.mqtt_fixtures import Collector
from tests.mqtt_stop import Stop, stop_config

pytestmark = pytest.mark.mqtt
ROOT = "stopsafe/t1"
TEXTURE = np.random.default_rng(3).integers(0, 256, 128, dtype=np.uint8).tobytes()


def events(col: Collector, fault: str) -> list[dict]:
    out = []
    for m in col.on(f"{ROOT}/event"):
        e = json.loads(m.payload)
        if e.get("kind") == "fault" and e.get("fault") == fault:
            out.append(e)
    return out


def test_static_object_fault_carries_its_box(broker, tmp_path):
    thing = replace(person(0.5, 0.8), signature=TEXTURE)
    cfg = stop_config(broker, tmp_path, _extra={
        "zone": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]},
        "static": {"after_s": 1.0, "box_tolerance": 0.05, "picture_tolerance": 0.25,
                   "grace_s": 0.0},
        "light": {"max_on_s": 0.6}})
    col = Collector(broker, (f"{ROOT}/#",))
    stop = Stop(cfg, lambda t: [thing] if t < 3.0 else [])
    try:
        col.wait_for(lambda m: m.topic == f"{ROOT}/event" and b'"static_object"' in m.payload
                     and b'"active":true' in m.payload, timeout=15)
        col.wait_for(lambda m: m.topic == f"{ROOT}/event" and b'"static_object"' in m.payload
                     and b'"active":false' in m.payload, timeout=15)
    finally:
        stop.close()
        col.close()
    raised, cleared = events(col, "static_object")
    assert raised["detail"]["boxes"] == [[0.45, 0.5, 0.55, 0.8]]
    assert cleared["active"] is False
    assert 0.9 <= raised["t"] <= 1.5 and 3.0 <= cleared["t"] <= 3.6
    # max_on_s (0.6 s) cut the light before the thing was found static
    cut = events(col, "light_max_on")
    assert cut and cut[0]["active"] and cut[0]["t"] < raised["t"]
    states = [json.loads(m.payload) for m in col.on(f"{ROOT}/faults/state")]
    assert ["light_max_on", "static_object"] in states or ["static_object"] in states
