"""Home Assistant MQTT discovery: what a stop looks like in Home Assistant, as retained configs.

Two forms (``mqtt.discovery_form``), both with the same entities, unique ids, device and origin:

- ``device`` (default, Home Assistant 2024.11 and later): one retained config per stop on
  ``<discovery_prefix>/device/stopsafe_<stop_id>/config`` with the device (``dev``), the
  origin (``o``), the availability and a ``cmps`` map of components, each with its platform
  ``p``;
- ``entities`` (older Home Assistant): one retained config per entity on
  ``<discovery_prefix>/<platform>/<stop_id>/<key>/config``.

Every entity carries ``default_entity_id`` (``<platform>.stopsafe_<stop>_<key>``; ``object_id``,
deprecated in Home Assistant 2025.10 and ignored since 2026.4, is never sent). Every entity is
available only while ``status`` is ``online`` (``offline`` and ``stopped`` both mean unavailable).

A stop cleans up after itself: retained configs under its own id that it published (its unique
ids, device and origin: :func:`is_own_config`) and does not publish now (the other form, or an
entity that no longer exists) are ``stale``; the service clears them with
an empty retained payload, after ``{"migrate_discovery": true}`` where the same unique id lives
on, so Home Assistant keeps the entity's settings (its documented migration path).

References (Home Assistant's MQTT documentation):
https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery (device and single-component
discovery payloads, origin, migration) and the platform pages ``select.mqtt``, ``light.mqtt``,
``binary_sensor.mqtt``, ``sensor.mqtt``, ``button.mqtt``, ``event.mqtt``, ``image.mqtt`` below
https://www.home-assistant.io/integrations/, and the sensor device classes of
https://www.home-assistant.io/integrations/sensor/#device-class (units and state classes each
class allows). Uptime is a ``timestamp`` sensor (when the daemon started), as Home Assistant's
own integrations report it: a seconds counter would write a new state every telemetry period
for a figure the frontend can show as "3 hours ago" by itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config import DiscoveryForm
from edge.decision.light_rules import LightMode
from edge.wire import (
    HA_STATUS_TOPIC_LEAF,
    CommandName,
    EventKind,
    Leaf,
    OnOff,
    SelftestResult,
    State,
    Status,
    Topics,
    entity_key,
    parse_json,
)

ORIGIN_NAME = "stopsafe"
DEVICE_COMPONENT = "device"  # the <component> level of a device-based discovery topic
MIGRATE_PAYLOAD = '{"migrate_discovery":true}'
# fps and inference time come with 'tele'; they read 'unavailable' after this many periods
# without one (two lost messages in a row still show the last value)
TELEMETRY_PERIODS_BEFORE_EXPIRY = 3


class Platform(str, Enum):
    """The Home Assistant platforms a stop uses."""

    SELECT = "select"
    LIGHT = "light"
    BINARY_SENSOR = "binary_sensor"
    SENSOR = "sensor"
    BUTTON = "button"
    EVENT = "event"
    IMAGE = "image"


class HaEventType(str, Enum):
    """``event_type`` of the stop's event entity, one per kind of ``event`` message."""

    LIGHT_ON = "light_on"
    LIGHT_OFF = "light_off"
    WAITING_ENDED = "waiting_ended"
    FAULT_RAISED = "fault_raised"
    FAULT_CLEARED = "fault_cleared"
    MODE = "mode"  # the manual mode changed (a command, or a timed mode expired)
    STARTED = "started"  # the daemon started, with how its previous run ended
    BUTTON = "button"  # the waiting button was pressed
    BUS = "bus"  # a bus came: stopped or passed, anyone waiting


# ``event`` messages -> ``{"event_type": ..., <the message's own fields>}``; Home Assistant
# shows the other fields as the event's attributes
EVENT_TEMPLATE = (
    "{% set k = value_json.kind %}"
    f"{{% if k == '{EventKind.LIGHT.value}' %}}"
    f"{{% set t = '{HaEventType.LIGHT_ON.value}' if value_json.on "
    f"else '{HaEventType.LIGHT_OFF.value}' %}}"
    f"{{% elif k == '{EventKind.FAULT.value}' %}}"
    f"{{% set t = '{HaEventType.FAULT_RAISED.value}' if value_json.active "
    f"else '{HaEventType.FAULT_CLEARED.value}' %}}"
    "{% else %}{% set t = k %}{% endif %}"
    "{{ dict(value_json, event_type=t) | tojson }}"
)
# the problem sensor's attributes come from ``faults/detail`` (a JSON object: each active fault
# with since when and why): ``faults``, the names as ever, and ``reasons``, what a person acts on
FAULTS_ATTRIBUTES_TEMPLATE = ("{{ {'faults': value_json | list | sort, 'reasons': value_json} "
                              "| tojson }}")
PROBLEM_TEMPLATE = (f"{{{{ '{OnOff.ON.value}' if value_json | length > 0 "
                    f"else '{OnOff.OFF.value}' }}}}")
# ``faults/detail`` ({fault: {since: ISO time, ...}}) -> the oldest raise; 'None' is Home
# Assistant's word for "unknown" (no fault active), as a timestamp sensor refuses any other
# non-date text
FAULT_SINCE_TEMPLATE = ("{% set v = value_json.values() | map(attribute='since') | list "
                        "| sort %}"
                        "{{ v[0] if v else 'None' }}")
SELFTEST_TEMPLATE = "{{ value_json.result }}"
SELFTEST_ATTRIBUTES_TEMPLATE = ("{{ {'at': value_json.at, 'failed': value_json.failed} "
                                "| tojson }}")
# 'stopped' (a clean exit) must read as unavailable too, not be ignored
AVAILABILITY_TEMPLATE = (f"{{{{ '{Status.ONLINE.value}' if value == '{Status.ONLINE.value}' "
                         f"else '{Status.OFFLINE.value}' }}}}")


@dataclass(frozen=True, slots=True)
class Board:
    """What the box is, for the device page: hardware model and serial number if it says."""

    model: str | None = None
    serial: str | None = None


def _read_text(path: Path) -> str | None:
    try:
        text = path.read_bytes().rstrip(b"\0\n ").decode("ascii", "replace").strip()
    except OSError:
        return None
    return text or None


def read_board(root: Path = Path("/proc/device-tree")) -> Board:
    """The board's model and serial from the device tree (Raspberry Pi and most ARM boards);
    on a PC (no device tree) both stay unknown rather than guessed."""
    return Board(_read_text(root / "model"), _read_text(root / "serial-number"))


@dataclass(frozen=True, slots=True)
class Component:
    """One entity: its key (unique within the stop), platform and platform-specific options."""

    key: str
    platform: Platform
    options: dict[str, Any]


def entity_slug(stop_id: str, key: str) -> str:
    """``stopsafe_<stop>_<key>`` in the characters an entity id allows."""
    return entity_key(f"stopsafe_{stop_id}_{key}")


def unique_id(stop_id: str, key: str) -> str:
    # unchanged since the first per-entity configs: Home Assistant keeps the entities' settings
    return f"stopsafe_{stop_id}_{key}"


def expire_after_s(telemetry_s: float) -> int:
    return math.ceil(TELEMETRY_PERIODS_BEFORE_EXPIRY * telemetry_s)


def components(topics: Topics, telemetry_s: float, snapshots: bool = False
               ) -> list[Component]:
    """The stop's entities (without the parts every entity shares). The picture and its button
    only when ``snapshots`` (``privacy.snapshots``): otherwise the stop refuses the command."""
    on_off = {"payload_on": OnOff.ON.value, "payload_off": OnOff.OFF.value}
    expire = expire_after_s(telemetry_s)
    light_cmd = topics.cmd(CommandName.LIGHT.value)
    out = [
        # the lamp as it is (the relay's state); ON/OFF from Home Assistant force it on or off,
        # the mode select brings it back to AUTO
        Component("floor_light", Platform.LIGHT, {
            "name": "Floor light", "icon": "mdi:light-flood-down",
            "state_topic": topics.leaf(State.LIGHT), "command_topic": light_cmd, **on_off,
        }),
        Component("light_mode", Platform.SELECT, {
            "name": "Light mode", "icon": "mdi:lightbulb-auto",
            "state_topic": topics.leaf(State.LIGHT_MODE), "command_topic": light_cmd,
            "options": [m.value for m in LightMode],
        }),
        Component("occupancy", Platform.BINARY_SENSOR, {
            "name": "Occupancy", "device_class": "occupancy",
            "state_topic": topics.leaf(State.OCCUPANCY), **on_off,
        }),
        Component("problem", Platform.BINARY_SENSOR, {
            "name": "Problem", "device_class": "problem", "entity_category": "diagnostic",
            "state_topic": topics.leaf(State.FAULTS), "value_template": PROBLEM_TEMPLATE,
            "json_attributes_topic": topics.leaf(State.FAULT_DETAIL),
            "json_attributes_template": FAULTS_ATTRIBUTES_TEMPLATE, **on_off,
        }),
        Component("in_service", Platform.BINARY_SENSOR, {
            "name": "In service hours", "icon": "mdi:clock-check-outline",
            "entity_category": "diagnostic", "device_class": "running",
            "state_topic": topics.leaf(State.IN_SERVICE), **on_off,
        }),
        Component("waiting", Platform.SENSOR, {
            "name": "Waiting passengers", "icon": "mdi:account-clock",
            "state_topic": topics.leaf(State.WAITING), "state_class": "measurement",
            "unit_of_measurement": "people",
        }),
        Component("fps", Platform.SENSOR, {
            "name": "Processed frame rate", "entity_category": "diagnostic",
            "state_topic": topics.tele, "value_template": "{{ value_json.fps }}",
            "state_class": "measurement", "unit_of_measurement": "fps",
            "expire_after": expire,
        }),
        Component("inference_ms", Platform.SENSOR, {
            "name": "Inference time", "entity_category": "diagnostic",
            "device_class": "duration", "state_topic": topics.tele,
            "value_template": "{{ value_json.inference_ms.p50 }}",
            "state_class": "measurement", "unit_of_measurement": "ms",
            "expire_after": expire,
        }),
        Component("buses_today", Platform.SENSOR, {
            "name": "Buses today", "icon": "mdi:bus",
            "state_topic": topics.tele, "value_template": "{{ value_json.buses_today.buses }}",
            "state_class": "total", "unit_of_measurement": "buses",
            "json_attributes_topic": topics.tele,
            "json_attributes_template": "{{ value_json.buses_today | tojson }}",
            "expire_after": expire,
        }),
        Component("passed_waiting_today", Platform.SENSOR, {
            "name": "Buses that passed someone waiting today", "icon": "mdi:bus-alert",
            "state_topic": topics.tele,
            "value_template": "{{ value_json.buses_today.passed_while_waiting }}",
            "state_class": "total", "unit_of_measurement": "buses", "expire_after": expire,
        }),
        Component("events", Platform.EVENT, {
            "name": "Events", "icon": "mdi:bus-stop",
            "state_topic": topics.event, "value_template": EVENT_TEMPLATE,
            "event_types": [e.value for e in HaEventType],
        }),
        Component("selftest", Platform.BUTTON, {
            "name": "Self-test", "entity_category": "diagnostic",
            "command_topic": topics.cmd(CommandName.SELFTEST.value), "payload_press": "",
        }),
        Component("selftest_result", Platform.SENSOR, {
            "name": "Last self-test", "entity_category": "diagnostic", "device_class": "enum",
            "options": [r.value for r in SelftestResult],
            "state_topic": topics.leaf(State.SELFTEST), "value_template": SELFTEST_TEMPLATE,
            "json_attributes_topic": topics.leaf(State.SELFTEST),
            "json_attributes_template": SELFTEST_ATTRIBUTES_TEMPLATE,
        }),
        Component("light_on_today", Platform.SENSOR, {
            "name": "Light on today", "icon": "mdi:lightbulb-on-outline",
            "device_class": "duration", "unit_of_measurement": "s",
            # back to 0 at midnight: total_increasing takes a drop as a new cycle
            "state_class": "total_increasing", "suggested_display_precision": 0,
            "state_topic": topics.tele, "value_template": "{{ value_json.light.on_s_today }}",
            "expire_after": expire,
        }),
        Component("waiting_episodes_today", Platform.SENSOR, {
            "name": "Waiting episodes today", "icon": "mdi:account-multiple-check",
            "state_class": "total_increasing", "unit_of_measurement": "episodes",
            "state_topic": topics.tele,
            "value_template": "{{ value_json.waiting_episodes_today }}", "expire_after": expire,
        }),
        Component("uptime", Platform.SENSOR, {
            "name": "Running since", "entity_category": "diagnostic",
            "device_class": "timestamp", "state_topic": topics.tele,
            "value_template": "{{ value_json.started }}", "expire_after": expire,
        }),
        Component("fault_since", Platform.SENSOR, {
            "name": "Fault since", "entity_category": "diagnostic",
            "device_class": "timestamp", "state_topic": topics.leaf(State.FAULT_DETAIL),
            "value_template": FAULT_SINCE_TEMPLATE,
            "json_attributes_topic": topics.leaf(State.FAULT_DETAIL),
        }),
        # the adaptive rate as it came out: detector runs a second over the telemetry period
        Component("detector_rate", Platform.SENSOR, {
            "name": "Detector rate", "entity_category": "diagnostic",
            "device_class": "frequency", "unit_of_measurement": "Hz",
            "state_class": "measurement", "suggested_display_precision": 2,
            "state_topic": topics.tele, "value_template": "{{ value_json.detector_fps }}",
            "expire_after": expire,
        }),
    ]
    if snapshots:
        out += [
            Component("snapshot", Platform.IMAGE, {
                "name": "Snapshot", "icon": "mdi:cctv",
                "image_topic": topics.leaf(Leaf.SNAPSHOT), "content_type": "image/jpeg",
            }),
            Component("take_snapshot", Platform.BUTTON, {
                "name": "Take snapshot", "entity_category": "diagnostic", "icon": "mdi:camera",
                "command_topic": topics.cmd(CommandName.SNAPSHOT.value), "payload_press": "",
            }),
        ]
    return out


def device_block(topics: Topics, stop_name: str, board: Board,
                 configuration_url: str | None) -> dict[str, Any]:
    device: dict[str, Any] = {
        "identifiers": [device_object_id(topics.stop_id)],
        "name": stop_name or f"Bus stop {topics.stop_id}",
        "manufacturer": "stopsafe",
        "model": "stopsafe edge daemon",
        "sw_version": __version__,
    }
    for key, value in (("hw_version", board.model), ("serial_number", board.serial),
                       ("configuration_url", configuration_url)):
        if value:
            device[key] = value
    return device


def origin_block(support_url: str | None = None) -> dict[str, Any]:
    origin: dict[str, Any] = {"name": ORIGIN_NAME, "sw_version": __version__}
    if support_url:
        origin["support_url"] = support_url
    return origin


def availability_block(topics: Topics) -> dict[str, Any]:
    return {
        "availability_topic": topics.status,
        "availability_template": AVAILABILITY_TEMPLATE,
        "payload_available": Status.ONLINE.value,
        "payload_not_available": Status.OFFLINE.value,
    }


def device_object_id(stop_id: str) -> str:
    """The device topic's object id: not the bare stop id, which is the per-entity topics'
    node id. Home Assistant names a discovered item ``<node or device object id> <key>``; were
    both forms to give the same names, clearing the old per-entity topics after a migration
    would reach the migrated entities as 'conflicting discovery messages' (a warning each,
    seen with Home Assistant 2025.4)."""
    return f"stopsafe_{stop_id}"


def device_topic(discovery_prefix: str, stop_id: str) -> str:
    return f"{discovery_prefix}/{DEVICE_COMPONENT}/{device_object_id(stop_id)}/config"


def entity_topic(discovery_prefix: str, platform: Platform, stop_id: str, key: str) -> str:
    return f"{discovery_prefix}/{platform.value}/{stop_id}/{key}/config"


def own_filters(discovery_prefix: str, stop_id: str) -> tuple[str, str]:
    """Subscriptions that bring back (retained) every config under this stop's id, both forms."""
    return (f"{discovery_prefix}/+/{stop_id}/+/config", device_topic(discovery_prefix, stop_id))


def is_own_config_topic(discovery_prefix: str, stop_id: str, topic: str) -> bool:
    parts = topic.split("/")
    head = discovery_prefix.split("/")
    n = len(head)
    if parts[:n] != head:
        return False
    rest = parts[n:]
    if len(rest) == 3:
        return rest == [DEVICE_COMPONENT, device_object_id(stop_id), "config"]
    return len(rest) == 4 and rest[1] == stop_id and rest[3] == "config"


def discovery_configs(topics: Topics, discovery_prefix: str, stop_name: str = "", *,
                      form: DiscoveryForm = DiscoveryForm.DEVICE, telemetry_s: float = 60.0,
                      board: Board | None = None, configuration_url: str | None = None,
                      support_url: str | None = None, snapshots: bool = False
                      ) -> dict[str, dict[str, Any]]:
    """``{config topic: payload}`` for one stop: one topic (device form) or one per entity."""
    sid = topics.stop_id
    device = device_block(topics, stop_name, board or Board(), configuration_url)
    origin = origin_block(support_url)
    avail = availability_block(topics)

    def entity(c: Component) -> dict[str, Any]:
        return {**c.options, "unique_id": unique_id(sid, c.key),
                "default_entity_id": f"{c.platform.value}.{entity_slug(sid, c.key)}"}

    comps = components(topics, telemetry_s, snapshots)
    if form is DiscoveryForm.DEVICE:
        return {device_topic(discovery_prefix, sid): {
            "device": device, "origin": origin, **avail,
            "components": {c.key: {"platform": c.platform.value, **entity(c)} for c in comps},
        }}
    return {entity_topic(discovery_prefix, c.platform, sid, c.key):
            {**entity(c), **avail, "device": device, "origin": origin} for c in comps}


def unique_ids(payload: dict[str, Any]) -> set[str]:
    """The unique ids a config (either form) sets up."""
    comps = payload.get("components", payload.get("cmps"))
    if isinstance(comps, dict):
        return {c.get("unique_id", c.get("uniq_id")) for c in comps.values()
                if isinstance(c, dict)} - {None}
    uid = payload.get("unique_id", payload.get("uniq_id"))
    return {uid} if isinstance(uid, str) else set()


def is_own_config(payload: dict[str, Any], stop_id: str) -> bool:
    """Whether a retained config under this stop's id is this stop's (published by it now or by
    an older stopsafe), so that it may clear it: it sets up entities, every unique id is this
    stop's (``stopsafe_<stop>_<key>``), and its device and origin, where it names them, are
    this stop's and stopsafe's. Another integration's device whose node id happens to equal the
    stop id keeps its configs: the topic's shape alone proves nothing."""
    uids = unique_ids(payload)
    if not uids or not all(u.startswith(unique_id(stop_id, "")) for u in uids):
        return False
    device = payload.get("device", payload.get("dev"))
    if device is not None:
        ids = device.get("identifiers", device.get("ids")) if isinstance(device, dict) else None
        if device_object_id(stop_id) not in ([ids] if isinstance(ids, str) else ids or []):
            return False
    origin = payload.get("origin", payload.get("o"))
    return origin is None or (isinstance(origin, dict) and origin.get("name") == ORIGIN_NAME)


def parse_config(payload: bytes) -> dict[str, Any] | None:
    """A retained config as JSON, None when it is empty or not a JSON object."""
    if not payload:
        return None
    try:
        data = parse_json(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def announce_delay_s(stop_id: str, delay_max_s: float) -> float:
    """This stop's wait before answering Home Assistant's ``online``: a fixed point in
    ``[0, delay_max_s)`` from a hash of the stop id, so a fleet spreads evenly over the window
    (a random draw per announcement would too, but the same stop would not always answer at
    the same moment, which makes a fleet's traffic harder to reason about)."""
    h = int.from_bytes(hashlib.sha256(stop_id.encode()).digest()[:8], "big")
    return delay_max_s * h / 2**64


def ha_status_topic(discovery_prefix: str) -> str:
    return f"{discovery_prefix}/{HA_STATUS_TOPIC_LEAF}"


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)
