"""Issue 23: discovery clears only the retained configs it published itself, never by the
topic's shape; a real mosquitto and the stop's real MQTT service."""

from __future__ import annotations

import json
import time

import pytest

from edge.mqtt.discovery import is_own_config
from tests.mqtt_fixtures import Collector
from tests.mqtt_stop import Stop, someone_between, stop_config
from tests.test_mqtt_link import retain, retained_now

pytestmark = pytest.mark.mqtt

# another integration's device whose node id is the stop's id ("t1"), and one that copies
# stopsafe's unique-id scheme but says it is someone else's
FOREIGN = {
    "homeassistant/sensor/t1/battery/config": json.dumps({
        "name": "Battery", "unique_id": "0x00158d0001a2b3c4_battery",
        "state_topic": "zigbee2mqtt/t1", "device": {"identifiers": ["zigbee2mqtt_0x00158d0001"],
                                                    "name": "t1"},
        "origin": {"name": "Zigbee2MQTT"}}),
    "homeassistant/binary_sensor/t1/light/config": json.dumps({
        "name": "Lamp", "unique_id": "stopsafe_t1_light", "state_topic": "other/t1/lamp",
        "origin": {"name": "another-bridge"}}),
}
OWN_OLD = {  # what an older stopsafe left under t1: cleared as before
    "homeassistant/sensor/t1/fps/config": json.dumps({
        "name": "fps", "unique_id": "stopsafe_t1_fps", "state_topic": "stopsafe/t1/tele",
        "device": {"identifiers": ["stopsafe_t1"]}}),
}


def test_ownership_by_unique_ids_device_and_origin():
    assert is_own_config(json.loads(OWN_OLD["homeassistant/sensor/t1/fps/config"]), "t1")
    for payload in FOREIGN.values():
        assert not is_own_config(json.loads(payload), "t1")
    assert not is_own_config({"unique_id": "stopsafe_t1_fps", "dev": {"ids": "stopsafe_t2"}},
                             "t1")
    assert is_own_config({"uniq_id": "stopsafe_t1_fps", "dev": {"ids": "stopsafe_t1"},
                          "o": {"name": "stopsafe"}}, "t1")
    assert not is_own_config({"state_topic": "x"}, "t1")  # no unique id: not provably ours


def test_a_foreign_retained_config_under_the_stop_id_survives_a_connect(broker, tmp_path):
    retain(broker, {**FOREIGN, **OWN_OLD})
    live = Collector(broker, ("homeassistant/#",))
    live.wait_for(lambda m: m.retain and m.topic.endswith("/t1/fps/config"))
    mark = live.mark()
    stop = Stop(stop_config(broker, tmp_path), someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic == "homeassistant/sensor/t1/fps/config"
                      and m.payload == b"", after=mark)
        time.sleep(0.5)
        touched = {m.topic for m in live.messages[mark:] if not m.retain}
    finally:
        stop.close()
        live.close()
    assert not touched & set(FOREIGN), touched
    now = retained_now(broker, ("homeassistant/#",))
    assert {t: now.get(t) for t in FOREIGN} == FOREIGN
    assert "homeassistant/sensor/t1/fps/config" not in now
    assert "homeassistant/device/stopsafe_t1/config" in now
