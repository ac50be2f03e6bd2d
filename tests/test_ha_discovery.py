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


def configs(form: DiscoveryForm, telemetry_s: float = 60.0, snapshots: bool = True
            ) -> dict[str, dict]:
    return discovery_configs(TOPICS, "homeassistant", "Market Square", form=form,
                             telemetry_s=telemetry_s, board=BOARD, configuration_url=URL,
                             support_url="https://support.example/stopsafe",
                             snapshots=snapshots)


def entities(form: DiscoveryForm, snapshots: bool = True) -> dict[str, dict]:
    """{key: entity options with platform} of either form."""
    out = {}
    for topic, payload in configs(form, snapshots=snapshots).items():
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


@pytest.mark.parametrize("snapshots", [True, False])
@pytest.mark.parametrize("form", list(DiscoveryForm))
def test_every_config_passes_the_strict_schema(form, snapshots):
    out = configs(form, snapshots=snapshots)
    assert len(out) == (1 if form is DiscoveryForm.DEVICE else 9 + len(NEW) - 2 * (not snapshots))
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
        "inference_ms": "sensor", "events": "event", "selftest": "button",
        **{k: v[0] for k, v in NEW.items()}}
    # both forms set up the same entities
    assert unique_ids(payload) == set().union(
        *(unique_ids(p) for p in configs(DiscoveryForm.ENTITIES).values()))


# every entity added for the crew (issue 27): platform, device class, unit, state class, category
NEW = {
    "snapshot": ("image", None, None, None, None),
    "take_snapshot": ("button", None, None, None, "diagnostic"),
    "selftest_result": ("sensor", "enum", None, None, "diagnostic"),
    "light_on_today": ("sensor", "duration", "s", "total_increasing", None),
    "uptime": ("sensor", "timestamp", None, None, "diagnostic"),
    "fault_since": ("sensor", "timestamp", None, None, "diagnostic"),
    "waiting_episodes_today": ("sensor", None, "episodes", "total_increasing", None),
    "detector_rate": ("sensor", "frequency", "Hz", "measurement", "diagnostic"),
    "in_service": ("binary_sensor", "running", None, None, "diagnostic"),
    "buses_today": ("sensor", None, "buses", "total", None),
    "passed_waiting_today": ("sensor", None, "buses", "total", None),
}


@pytest.mark.parametrize("form", list(DiscoveryForm))
def test_the_crews_entities_with_class_unit_state_class_and_category(form):
    e = entities(form)
    for key, (platform, device_class, unit, state_class, category) in NEW.items():
        got = e[key]
        assert (got["platform"], got.get("device_class"), got.get("unit_of_measurement"),
                got.get("state_class"), got.get("entity_category")) == (
                    platform, device_class, unit, state_class, category), key
        validate_entity_config(platform, {k: v for k, v in got.items() if k != "platform"})
    # what each reads: the stop's own topics (tele, retained states, the snapshot)
    assert e["snapshot"]["image_topic"] == "stopsafe/stop-0042/snapshot"
    assert e["snapshot"]["content_type"] == "image/jpeg"
    assert e["take_snapshot"]["command_topic"] == "stopsafe/stop-0042/cmd/snapshot"
    assert e["selftest_result"]["state_topic"] == "stopsafe/stop-0042/selftest/state"
    assert e["selftest_result"]["options"] == ["passed", "failed"]
    assert e["fault_since"]["state_topic"] == "stopsafe/stop-0042/faults/detail"
    for key in ("light_on_today", "uptime", "detector_rate", "waiting_episodes_today"):
        assert e[key]["state_topic"] == "stopsafe/stop-0042/tele"
        assert e[key]["expire_after"] == expire_after_s(60.0)


def test_no_picture_and_no_snapshot_button_unless_privacy_allows_snapshots():
    off = entities(DiscoveryForm.DEVICE, snapshots=False)
    assert "snapshot" not in off and "take_snapshot" not in off
    assert set(entities(DiscoveryForm.DEVICE)) - set(off) == {"snapshot", "take_snapshot"}


def test_schema_refuses_what_home_assistant_documents_as_wrong_for_the_new_entities():
    payload, = configs(DiscoveryForm.DEVICE).values()
    DevicePayload.model_validate(payload)
    bad = [
        lambda c: c["light_on_today"].update(unit_of_measurement="hours"),
        lambda c: c["detector_rate"].update(unit_of_measurement="fps"),
        lambda c: c["detector_rate"].update(state_class="total_increasing"),
        lambda c: c["uptime"].update(unit_of_measurement="s"),
        lambda c: c["fault_since"].update(state_class="measurement"),
        lambda c: c["selftest_result"].pop("options"),
        lambda c: c["selftest_result"].update(state_class="measurement"),
        lambda c: c["waiting"].update(options=["0", "1"]),
        lambda c: c["waiting"].update(device_class="people"),
        lambda c: c["snapshot"].update(url_topic="stopsafe/x/url"),
        lambda c: c["snapshot"].pop("image_topic"),
        lambda c: c["snapshot"].update(image_encoding="base64"),
        lambda c: c["snapshot"].update(content_type="jpeg"),
        lambda c: c["take_snapshot"].update(device_class="snapshot"),
    ]
    for i, spoil in enumerate(bad):
        p = json.loads(json.dumps(payload))
        spoil(p["components"])
        with pytest.raises(ValidationError):
            DevicePayload.model_validate(p)
            pytest.fail(f"spoiler {i} was accepted")


def test_the_new_templates_render_what_the_stop_publishes():
    e = entities(DiscoveryForm.DEVICE)
    since = e["fault_since"]["value_template"]
    assert render(since, "{}") == "None"  # Home Assistant's 'unknown'
    assert render(since, json.dumps({"lamp_failed": {"since": "2026-12-06T21:00:05+00:00"},
                                     "camera_black": {"since": "2026-12-06T20:59:00+00:00",
                                                      "error": "black picture"}})) == (
        "2026-12-06T20:59:00+00:00")  # the oldest
    body = json.dumps({"result": "failed", "at": "2026-12-06T21:00:00+00:00",
                       "failed": ["camera"]})
    assert render(e["selftest_result"]["value_template"], body) == "failed"
    assert json.loads(render(e["selftest_result"]["json_attributes_template"], body)) == {
        "at": "2026-12-06T21:00:00+00:00", "failed": ["camera"]}
    tele = json.dumps({"started": "2026-12-06T20:00:00.000+00:00", "detector_fps": 1.25,
                       "light": {"on_s_today": 812.4}, "waiting_episodes_today": 7})
    assert render(e["uptime"]["value_template"], tele) == "2026-12-06T20:00:00.000+00:00"
    assert render(e["detector_rate"]["value_template"], tele) == "1.25"
    assert render(e["light_on_today"]["value_template"], tele) == "812.4"
    assert render(e["waiting_episodes_today"]["value_template"], tele) == "7"


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
    for key in ("fps", "inference_ms", "buses_today", "passed_waiting_today"):
        assert comps[key]["expire_after"] == expire_after_s(telemetry_s) >= 3 * telemetry_s
        assert comps[key]["state_topic"] == "stopsafe/stop-0042/tele"
    # retained states are never expired: they are valid until they change
    assert "expire_after" not in e["waiting"] and "expire_after" not in e["occupancy"]


def test_bus_sensors_read_the_telemetry_day_figures():
    from edge.bus_figures import bus_figures

    e = entities(DiscoveryForm.DEVICE)
    day = bus_figures([{"kind": "bus", "outcome": "passed", "waiting": True},
                       {"kind": "bus", "outcome": "stopped", "waiting": True, "waited_s": 40},
                       {"kind": "bus", "outcome": "passed", "waiting": False}])
    tele = json.dumps({"buses_today": day})
    assert render(e["buses_today"]["value_template"], tele) == "3"
    assert render(e["passed_waiting_today"]["value_template"], tele) == "1"
    assert json.loads(render(e["buses_today"]["json_attributes_template"], tele))[
        "median_wait_until_stopped_s"] == 40.0


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
    detail = {"model_failed": {"since": "2026-12-06T22:50:25+00:00", "problem": "missing",
                               "error": "model /var/lib/stopsafe/models/x.tflite is missing"},
              "camera_stale": {"since": "2026-12-06T22:50:30+00:00"}}
    assert json.loads(render(problem["json_attributes_template"], json.dumps(detail))) == {
        "faults": ["camera_stale", "model_failed"], "reasons": detail}
    assert json.loads(render(problem["json_attributes_template"], "{}")) == {
        "faults": [], "reasons": {}}
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
        ({"kind": EventKind.STARTED.value, "previous_end": "killed",
          "previous_started": "2026-12-06T22:56:30.000+00:00"}, HaEventType.STARTED),
        ({"kind": EventKind.BUTTON.value, "for_s": 60.0}, HaEventType.BUTTON),
        ({"kind": EventKind.BUS.value, "route": "700", "outcome": "passed", "waiting": True,
          "waited_s": 42.0, "light_on": True}, HaEventType.BUS),
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
