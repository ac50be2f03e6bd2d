"""Home Assistant discovery payloads against the strict schema written from Home Assistant's
MQTT documentation (tests/ha_schema.py), their templates rendered by Jinja as Home Assistant
renders them, and the per-stop re-announcement delay. No broker: the wire is in
test_mqtt_link.py and test_ha_announce.py."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from edge.config import DiscoveryForm, parse_config
from edge.decision.events import EventKind
from edge.mqtt.discovery import (
    Board,
    HaEventType,
    Platform,
    announce_delay_s,
    discovery_configs,
    expire_after_s,
    is_own_config_topic,
    own_filters,
    read_board,
    unique_ids,
)
from edge.wire import Topics
from tests.ha_schema import DevicePayload, validate_config, validate_entity_config

TOPICS = Topics("stopsafe", "stop-0042")
BOARD = Board("Raspberry Pi 5 Model B Rev 1.0", "d83add5c1a2b3c4d")
URL = "https://fleet.example/stops/stop-0042"


def configs(form: DiscoveryForm, telemetry_s: float = 60.0) -> dict[str, dict]:
    return discovery_configs(TOPICS, "homeassistant", "Market Square", form=form,
                             telemetry_s=telemetry_s, board=BOARD, configuration_url=URL,
                             support_url="https://support.example/stopsafe")


def entities(form: DiscoveryForm) -> dict[str, dict]:
    """{key: entity options with platform} of either form."""
    out = {}
    for topic, payload in configs(form).items():
        if form is DiscoveryForm.DEVICE:
            out.update(payload["components"])
        else:
            out[topic.split("/")[3]] = {**payload, "platform": topic.split("/")[1]}
    return out


def render(template: str, payload: str) -> str:
    """A value template as Home Assistant renders it: ``value`` and ``value_json``."""
    env = ImmutableSandboxedEnvironment()
    try:
        value_json = json.loads(payload)
    except ValueError:
        value_json = None
    return env.from_string(template).render(value=payload, value_json=value_json)


@pytest.mark.parametrize("form", list(DiscoveryForm))
def test_every_config_passes_the_strict_schema(form):
    out = configs(form)
    assert len(out) == (1 if form is DiscoveryForm.DEVICE else len(Platform) + 3)
    for topic, payload in out.items():
        validate_config(topic, payload)
        text = json.dumps(payload)
        assert "object_id" not in text
    for key, e in entities(form).items():
        assert e["default_entity_id"] == f"{e['platform']}.stopsafe_stop_0042_{key}"
        assert e["unique_id"] == f"stopsafe_stop-0042_{key}"
        if form is DiscoveryForm.ENTITIES:  # device-based: origin once, at the root
            assert e["origin"] == {"name": "stopsafe", "sw_version": e["device"]["sw_version"],
                                   "support_url": "https://support.example/stopsafe"}


def test_device_form_is_one_config_with_device_origin_and_availability():
    (topic, payload), = configs(DiscoveryForm.DEVICE).items()
    assert topic == "homeassistant/device/stopsafe_stop-0042/config"
    assert payload["device"] == {
        "identifiers": ["stopsafe_stop-0042"], "name": "Market Square",
        "manufacturer": "stopsafe", "model": "stopsafe edge daemon",
        "sw_version": payload["origin"]["sw_version"],
        "hw_version": BOARD.model, "serial_number": BOARD.serial, "configuration_url": URL}
    assert payload["availability_topic"] == "stopsafe/stop-0042/status"
    assert {k: c["platform"] for k, c in payload["components"].items()} == {
        "floor_light": "light", "light_mode": "select", "occupancy": "binary_sensor",
        "problem": "binary_sensor", "waiting": "sensor", "fps": "sensor",
        "inference_ms": "sensor", "events": "event", "selftest": "button"}
    # both forms set up the same entities
    assert unique_ids(payload) == set().union(
        *(unique_ids(p) for p in configs(DiscoveryForm.ENTITIES).values()))


def test_the_floor_light_is_a_switchable_light_and_the_mode_a_select():
    e = entities(DiscoveryForm.DEVICE)
    light = e["floor_light"]
    assert light["platform"] == "light"  # not a binary_sensor 'light' (= light was detected)
    assert (light["state_topic"], light["command_topic"]) == (
        "stopsafe/stop-0042/light/state", "stopsafe/stop-0042/cmd/light")
    assert (light["payload_on"], light["payload_off"]) == ("ON", "OFF")  # cmd/light words
    mode = e["light_mode"]
    assert mode["command_topic"] == light["command_topic"]
    assert mode["options"] == ["AUTO", "FORCE_ON", "FORCE_OFF"]


@pytest.mark.parametrize("telemetry_s", [1.0, 10.0, 60.0, 3600.0])
def test_tele_sensors_expire_after_three_missed_telemetry_periods(telemetry_s):
    e = entities(DiscoveryForm.DEVICE)
    out = discovery_configs(TOPICS, "homeassistant", form=DiscoveryForm.DEVICE,
                            telemetry_s=telemetry_s)
    comps = next(iter(out.values()))["components"]
    for key in ("fps", "inference_ms"):
        assert comps[key]["expire_after"] == expire_after_s(telemetry_s) >= 3 * telemetry_s
        assert comps[key]["state_topic"] == "stopsafe/stop-0042/tele"
    # retained states are never expired: they are valid until they change
    assert "expire_after" not in e["waiting"] and "expire_after" not in e["occupancy"]


def test_schema_refuses_object_id_unknown_keys_and_wrong_ids():
    payload, = configs(DiscoveryForm.DEVICE).values()
    DevicePayload.model_validate(payload)
    bad = [
        lambda p: p["components"]["waiting"].update(object_id="stopsafe_x"),
        lambda p: p["components"]["waiting"].update(bogus=1),
        lambda p: p.update(bogus=1),
        lambda p: p["device"].update(sw="1"),  # abbreviations are not what stopsafe sends
        lambda p: p["components"]["waiting"].update(default_entity_id="light.x"),
        lambda p: p["components"]["waiting"].update(default_entity_id="stopsafe_x"),
        lambda p: p["components"]["waiting"].pop("unique_id"),
        lambda p: p["components"]["waiting"].update(platform="lamp"),
        lambda p: p["components"]["waiting"].update(device={"identifiers": ["x"]}),
        lambda p: p.pop("origin"),
        lambda p: p["origin"].pop("name"),
        lambda p: p["components"]["inference_ms"].update(unit_of_measurement="fps"),
        lambda p: p["components"]["fps"].update(expire_after=0),
        lambda p: p["components"]["events"].update(event_types=[]),
        lambda p: p["components"]["floor_light"].update(command_topic="a/+/b"),
        lambda p: p["components"]["problem"].update(device_class="lamp_on"),
    ]
    for i, spoil in enumerate(bad):
        p = json.loads(json.dumps(payload))
        spoil(p)
        with pytest.raises(ValidationError):
            DevicePayload.model_validate(p)
            pytest.fail(f"spoiler {i} was accepted")
    one = next(iter(configs(DiscoveryForm.ENTITIES).values()))
    with pytest.raises(ValidationError):
        validate_entity_config("select", {**one, "object_id": "x"})


def test_templates_render_as_home_assistant_renders_them():
    e = entities(DiscoveryForm.DEVICE)
    avail = configs(DiscoveryForm.DEVICE)["homeassistant/device/stopsafe_stop-0042/config"][
        "availability_template"]
    assert [render(avail, s) for s in ("online", "offline", "stopped")] == [
        "online", "offline", "offline"]
    problem = e["problem"]
    assert render(problem["value_template"], "[]") == "OFF"
    assert render(problem["value_template"], '["camera_stale","lamp_fault"]') == "ON"
    assert json.loads(render(problem["json_attributes_template"], '["camera_stale"]')) == {
        "faults": ["camera_stale"]}
    assert json.loads(render(problem["json_attributes_template"], "[]")) == {"faults": []}
    tele = json.dumps({"fps": 4.8, "inference_ms": {"p50": 41.2, "p95": 60.0}})
    assert render(e["fps"]["value_template"], tele) == "4.8"
    assert render(e["inference_ms"]["value_template"], tele) == "41.2"


def test_event_template_gives_a_declared_event_type_and_keeps_the_fields():
    ev = entities(DiscoveryForm.DEVICE)["events"]
    declared = set(ev["event_types"])
    assert declared == {e.value for e in HaEventType}
    samples = [
        ({"kind": EventKind.LIGHT.value, "on": True, "reason": "waiting", "seq": 3},
         HaEventType.LIGHT_ON),
        ({"kind": EventKind.LIGHT.value, "on": False, "reason": "hold_expired"},
         HaEventType.LIGHT_OFF),
        ({"kind": EventKind.WAITING_ENDED.value, "duration_s": 12.5, "peak": 2},
         HaEventType.WAITING_ENDED),
        ({"kind": EventKind.FAULT.value, "fault": "camera_stale", "active": True},
         HaEventType.FAULT_RAISED),
        ({"kind": EventKind.FAULT.value, "fault": "camera_stale", "active": False},
         HaEventType.FAULT_CLEARED),
        ({"kind": EventKind.MODE.value, "mode": "FORCE_ON", "previous": "AUTO", "for_s": None,
          "expired": False}, HaEventType.MODE),
    ]
    assert {k for k in EventKind} == {EventKind(s["kind"]) for s, _ in samples}
    for body, expected in samples:
        out = json.loads(render(ev["value_template"], json.dumps(body)))
        assert out == {**body, "event_type": expected.value}
        assert out["event_type"] in declared


def test_announce_delay_is_fixed_per_stop_and_spread_evenly_over_a_fleet():
    assert announce_delay_s("stop-0001", 30.0) == announce_delay_s("stop-0001", 30.0)
    assert announce_delay_s("stop-0001", 0.0) == 0.0
    delays = [announce_delay_s(f"fleet-{i:04d}", 30.0) for i in range(1000)]
    assert all(0.0 <= d < 30.0 for d in delays)
    per_s = Counter(int(d) for d in delays)
    assert sorted(per_s) == list(range(30))  # every second of the window has some
    # 33.3 a second on average; a uniform hash stays well inside 2x of it
    assert max(per_s.values()) < 2 * 1000 / 30 and min(per_s.values()) > 0.5 * 1000 / 30


def test_own_config_topics_of_both_forms_and_nobody_elses():
    dev, ent = own_filters("homeassistant", "s1")
    assert (dev, ent) == ("homeassistant/+/s1/+/config",
                          "homeassistant/device/stopsafe_s1/config")
    yes = ["homeassistant/device/stopsafe_s1/config",
           "homeassistant/binary_sensor/s1/light/config",
           "homeassistant/sensor/s1/fps/config"]
    no = ["homeassistant/device/stopsafe_s2/config", "homeassistant/device/s1/config",
          "homeassistant/sensor/s2/fps/config",
          "homeassistant/status", "homeassistant/sensor/s1/fps/state",
          "other/device/stopsafe_s1/config", "homeassistant/device/stopsafe_s1/x/config"]
    assert all(is_own_config_topic("homeassistant", "s1", t) for t in yes)
    assert not any(is_own_config_topic("homeassistant", "s1", t) for t in no)
    assert is_own_config_topic("ha/disc", "s1", "ha/disc/device/stopsafe_s1/config")


def test_board_from_the_device_tree_or_nothing(tmp_path):
    (tmp_path / "model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    (tmp_path / "serial-number").write_bytes(b"10000000abcdef01\0")
    assert read_board(tmp_path) == Board("Raspberry Pi 4 Model B Rev 1.4", "10000000abcdef01")
    assert read_board(tmp_path / "none") == Board(None, None)
    payload = discovery_configs(TOPICS, "homeassistant", board=Board())
    device = next(iter(payload.values()))["device"]
    assert "hw_version" not in device and "serial_number" not in device  # never guessed


def test_config_has_form_delay_and_url_with_bounds():
    m = parse_config({}).mqtt
    assert (m.discovery_form, m.discovery_delay_max_s, m.configuration_url, m.support_url) == (
        DiscoveryForm.DEVICE, 30.0, None, None)
    for bad in ({"discovery_form": "both"}, {"discovery_delay_max_s": -1},
                {"discovery_delay_max_s": 601}, {"configuration_url": "ftp://x"},
                {"support_url": "not a url"}):
        with pytest.raises(Exception, match="mqtt"):
            parse_config({"mqtt": bad})
