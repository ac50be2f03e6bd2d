"""Home Assistant MQTT discovery: one retained config per entity, with a device block.

Topics are ``<discovery_prefix>/<component>/<stop_id>/<object>/config``. Every entity is
available only while ``status`` is ``online`` (``offline`` and ``stopped`` both mean
unavailable). They are sent on every connect and again when Home Assistant announces itself
with ``online`` on ``<discovery_prefix>/status``.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from edge import __version__
from edge.decision.light_rules import LightMode
from edge.mqtt.topics import Leaf, OnOff, State, Status, Topics


class Component(str, Enum):
    SELECT = "select"
    BINARY_SENSOR = "binary_sensor"
    SENSOR = "sensor"
    BUTTON = "button"


# the fields every config must carry (checked by the tests on the wire)
REQUIRED = ("name", "unique_id", "availability_topic", "device")


def discovery_configs(topics: Topics, discovery_prefix: str, stop_name: str = ""
                      ) -> dict[str, dict[str, Any]]:
    """``{config topic: payload}`` for one stop."""
    sid = topics.stop_id
    device = {
        "identifiers": [f"stopsafe_{sid}"],
        "name": stop_name or f"Bus stop {sid}",
        "manufacturer": "stopsafe",
        "model": "stopsafe edge daemon",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": topics.status,
        # 'stopped' (a clean exit) must read as unavailable too, not be ignored
        "availability_template": "{{ 'online' if value == 'online' else 'offline' }}",
        "payload_available": Status.ONLINE.value,
        "payload_not_available": Status.OFFLINE.value,
        "device": device,
    }
    on_off = {"payload_on": OnOff.ON.value, "payload_off": OnOff.OFF.value}
    entities: list[tuple[Component, str, dict[str, Any]]] = [
        (Component.SELECT, "light_mode", {
            "name": "Light mode", "icon": "mdi:lightbulb-auto",
            "state_topic": topics.leaf(State.LIGHT_MODE),
            "command_topic": topics.cmd("light"),
            "options": [m.value for m in LightMode],
        }),
        (Component.BINARY_SENSOR, "light", {
            "name": "Floor light", "device_class": "light",
            "state_topic": topics.leaf(State.LIGHT), **on_off,
        }),
        (Component.BINARY_SENSOR, "occupancy", {
            "name": "Occupancy", "device_class": "occupancy",
            "state_topic": topics.leaf(State.OCCUPANCY), **on_off,
        }),
        (Component.BINARY_SENSOR, "problem", {
            "name": "Problem", "device_class": "problem", "entity_category": "diagnostic",
            "state_topic": topics.leaf(State.FAULTS),
            "value_template": "{{ 'ON' if value_json | length > 0 else 'OFF' }}", **on_off,
        }),
        (Component.SENSOR, "waiting", {
            "name": "Waiting passengers", "icon": "mdi:account-clock",
            "state_topic": topics.leaf(State.WAITING), "state_class": "measurement",
            "unit_of_measurement": "people",
        }),
        (Component.SENSOR, "fps", {
            "name": "Processed frame rate", "entity_category": "diagnostic",
            "state_topic": topics.tele, "value_template": "{{ value_json.fps }}",
            "state_class": "measurement", "unit_of_measurement": "fps",
        }),
        (Component.SENSOR, "inference_ms", {
            "name": "Inference time", "entity_category": "diagnostic",
            "device_class": "duration", "state_topic": topics.tele,
            "value_template": "{{ value_json.inference_ms.p50 }}",
            "state_class": "measurement", "unit_of_measurement": "ms",
        }),
        (Component.BUTTON, "selftest", {
            "name": "Self-test", "entity_category": "diagnostic",
            "command_topic": topics.cmd("selftest"), "payload_press": "",
        }),
    ]
    out: dict[str, dict[str, Any]] = {}
    for component, obj, fields in entities:
        topic = f"{discovery_prefix}/{component.value}/{sid}/{obj}/config"
        out[topic] = {**fields, "unique_id": f"stopsafe_{sid}_{obj}",
                      "object_id": f"stopsafe_{sid}_{obj}", **common}
    return out


def ha_status_topic(discovery_prefix: str) -> str:
    return f"{discovery_prefix}/{Leaf.STATUS.value}"


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)
