"""The MQTT service against a real mosquitto: the exact messages on the wire, outages,
reconnects, the outbox, MQTT 5 answers, Home Assistant discovery, TLS, credentials and the ACL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import __version__
from edge.config import DiscoveryForm, DropPolicy
from edge.mqtt.discovery import announce_delay_s, discovery_configs
from edge.runtime.outbox import Outbox
from edge.wire import Topics
from tests.conftest import REPO
from tests.ha_schema import validate_config
from tests.mqtt_fixtures import Broker, Collector
from tests.mqtt_stop import Stop, someone_between, stop_config

pytestmark = pytest.mark.mqtt
ROOT = "stopsafe/t1"
RETAINED = {f"{ROOT}/status": "online", f"{ROOT}/light/state": "OFF",
            f"{ROOT}/light/mode/state": "AUTO", f"{ROOT}/occupancy/state": "OFF",
            f"{ROOT}/waiting/state": "0", f"{ROOT}/faults/state": "[]",
            f"{ROOT}/faults/detail": "{}", f"{ROOT}/service/state": "ON"}


def events(c: Collector) -> list[dict]:
    return [json.loads(m.payload) for m in c.on(f"{ROOT}/event")]


def send(broker: Broker, topic: str, payload: bytes, props: Properties | None = None) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}",
                    protocol=paho.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    c.publish(topic, payload, qos=1, properties=props).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def test_outbox_keeps_order_bound_and_seq_across_restarts(tmp_path):
    path = tmp_path / "o.sqlite"
    box = Outbox(path, 5, DropPolicy.OLDEST)
    seqs = [box.append({"n": i}) for i in range(8)]
    assert seqs == list(range(1, 9)) and len(box) == 5 and box.dropped == 3
    assert [(s, e["n"]) for s, e in box.after(0, 10)] == [(4, 3), (5, 4), (6, 5), (7, 6), (8, 7)]
    box.ack(4)
    box.close()
    box = Outbox(path, 5, DropPolicy.NEWEST)  # what was not acknowledged survives a restart
    assert [s for s, _ in box.after(0, 10)] == [5, 6, 7, 8]
    assert box.append({"n": 8}) == 9  # seq is never reused
    assert box.append({"n": 9}) is None and box.dropped == 1  # 'newest': the new one is refused
    assert [s for s, _ in box.after(6, 10)] == [7, 8, 9]


def test_connect_publishes_status_and_every_retained_topic_then_stopped(broker, tmp_path):
    live = Collector(broker, ("stopsafe/#", "homeassistant/#"))
    stop = Stop(stop_config(broker, tmp_path, discovery_delay_max_s=2.0,
                            configuration_url="https://fleet.example/t1",
                            support_url="https://fleet.example/help"),
                someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online")
        live.wait_for(lambda m: m.topic == f"{ROOT}/tele")
        live.wait_for(lambda m: m.topic == "homeassistant/device/stopsafe_t1/config")  # 1 s on
        late = Collector(broker, ("stopsafe/#", "homeassistant/#"))  # sees only retained
        time.sleep(0.5)
        got = {m.topic: m.text for m in late.messages if m.retain}
        for topic, payload in RETAINED.items():
            assert got.get(topic) == payload, topic
        configs = {t: json.loads(p) for t, p in got.items() if t.startswith("homeassistant/")}
        assert sorted(configs) == ["homeassistant/device/stopsafe_t1/config"]  # one config per stop
        for topic, cfg in configs.items():
            validate_config(topic, cfg)  # the strict schema from Home Assistant's docs
            assert cfg["availability_topic"] == f"{ROOT}/status"
            assert cfg["device"]["identifiers"] == ["stopsafe_t1"]
            assert cfg["origin"] == {"name": "stopsafe", "sw_version": __version__,
                                     "support_url": "https://fleet.example/help"}
            assert cfg["device"]["configuration_url"] == "https://fleet.example/t1"
        comps = configs["homeassistant/device/stopsafe_t1/config"]["components"]
        assert comps["light_mode"]["options"] == ["AUTO", "FORCE_ON", "FORCE_OFF"]
        assert comps["floor_light"]["command_topic"] == f"{ROOT}/cmd/light"
        tele = json.loads(live.on(f"{ROOT}/tele")[0].payload)
        assert {"fps", "inference_ms", "frame_age_s", "camera", "light", "uptime_s", "memory",
                "versions", "commands", "waiting_episodes_today", "cpu_temp_c", "started",
                "detector_fps"} <= set(tele)
        started = datetime.fromisoformat(tele["started"])  # Home Assistant's "Running since"
        assert started.tzinfo is not None and 0 <= tele["uptime_s"] < 30
        assert abs((datetime.now(timezone.utc) - started).total_seconds() - tele["uptime_s"]) < 5
        assert not live.on(f"{ROOT}/tele")[0].retain
        # a HA restart (birth message) makes the stop send its configs again, after its delay
        mark = live.mark()
        sent_at = time.monotonic()
        send(broker, "homeassistant/status", b"online")
        again = live.wait_for(lambda m: m.topic == "homeassistant/device/stopsafe_t1/config",
                              after=mark, timeout=5)
        delay = announce_delay_s("t1", 2.0)
        assert delay - 0.05 <= again.at - sent_at <= delay + 1.0
        late.close()
    finally:
        stop.close()
    live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "stopped")
    time.sleep(0.3)
    assert [x.text for x in live.on(f"{ROOT}/status")][-1] == "stopped"  # no last will
    live.close()


def retain(broker: Broker, items: dict[str, str]) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"r-{uuid.uuid4().hex[:6]}",
                    protocol=paho.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    for topic, payload in items.items():
        c.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def retained_now(broker: Broker, topics: tuple[str, ...]) -> dict[str, str]:
    late = Collector(broker, topics)
    time.sleep(0.5)
    late.close()
    return {m.topic: m.text for m in late.messages if m.retain}


def test_switching_discovery_forms_migrates_then_clears_the_old_configs(broker, tmp_path):
    """What an older stopsafe left (per-entity configs with object_id, a binary_sensor for the
    lamp) is replaced: 'migrate_discovery' where the unique id lives on, the device config,
    then empty retained payloads; another stop's configs are not touched. And back again."""
    dev = {"identifiers": ["stopsafe_t1"], "name": "Test stop"}
    old = {
        "homeassistant/select/t1/light_mode/config": json.dumps({
            "name": "Light mode", "unique_id": "stopsafe_t1_light_mode",
            "object_id": "stopsafe_t1_light_mode", "command_topic": f"{ROOT}/cmd/light",
            "options": ["AUTO", "FORCE_ON", "FORCE_OFF"], "device": dev}),
        "homeassistant/binary_sensor/t1/light/config": json.dumps({
            "name": "Floor light", "unique_id": "stopsafe_t1_light", "device_class": "light",
            "object_id": "stopsafe_t1_light", "state_topic": f"{ROOT}/light/state",
            "device": dev}),
        "homeassistant/sensor/t2/fps/config": json.dumps({
            "name": "fps", "unique_id": "stopsafe_t2_fps", "state_topic": "stopsafe/t2/tele"}),
    }
    retain(broker, old)
    live = Collector(broker, ("homeassistant/#",))
    live.wait_for(lambda m: m.retain and m.topic.endswith("/t2/fps/config"))
    mark = live.mark()
    stop = Stop(stop_config(broker, tmp_path), someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic == "homeassistant/binary_sensor/t1/light/config"
                      and m.payload == b"", after=mark)
        time.sleep(0.3)
        seq = [(m.topic, m.text) for m in live.messages[mark:]]
        device_topic = "homeassistant/device/stopsafe_t1/config"
        first_device = next(i for i, (t, _) in enumerate(seq) if t == device_topic)
        assert seq[:first_device] == [("homeassistant/select/t1/light_mode/config",
                                       '{"migrate_discovery":true}')]
        assert sorted(seq[first_device + 1:]) == [
            ("homeassistant/binary_sensor/t1/light/config", ""),  # a light now: deleted
            ("homeassistant/select/t1/light_mode/config", "")]
        assert set(retained_now(broker, ("homeassistant/#",))) == {
            device_topic, "homeassistant/sensor/t2/fps/config"}
    finally:
        stop.close()
    # and back to one config per entity (an older Home Assistant)
    mark = live.mark()
    stop = Stop(stop_config(broker, tmp_path, discovery_form="entities"),
                someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic == device_topic and m.payload == b"", after=mark)
        time.sleep(0.3)
        seq = [(m.topic, m.text) for m in live.messages[mark:]]
        assert seq[0] == (device_topic, '{"migrate_discovery":true}')
        assert seq[-1] == (device_topic, "")
        now = retained_now(broker, ("homeassistant/#",))
        ours = discovery_configs(Topics("stopsafe", "t1"), "homeassistant",
                                 form=DiscoveryForm.ENTITIES)
        assert set(now) == {*ours, "homeassistant/sensor/t2/fps/config"}
        for topic, payload in now.items():
            if "/t1/" in topic:
                validate_config(topic, json.loads(payload))
    finally:
        stop.close()
    live.close()


def test_scene_gives_states_and_events_in_order(broker, tmp_path):
    live = Collector(broker, (f"{ROOT}/#",))
    stop = Stop(stop_config(broker, tmp_path), someone_between(1.0, 2.0))
    try:
        live.wait_for(lambda m: m.topic.endswith("/event") and b"waiting_ended" in m.payload)
        live.wait_for(lambda m: m.topic.endswith("/event") and b'"on":false' in m.payload)
    finally:
        stop.close()
    ev = events(live)
    assert [e["kind"] for e in ev] == ["light", "waiting_ended", "light"]
    assert [e["seq"] for e in ev] == sorted(e["seq"] for e in ev)
    assert (ev[0]["on"], ev[0]["reason"], ev[2]["on"]) == (True, "waiting", False)
    assert ev[1]["peak"] == 1 and ev[1]["duration_s"] > 0.3
    assert [(e["t"], e["on"]) for e in ev if e["kind"] == "light"] == stop.timeline.switches
    light = [m.text for m in live.on(f"{ROOT}/light/state")]
    assert light == ["OFF", "ON", "OFF"]
    assert all(m.retain is False or m.text for m in live.on(f"{ROOT}/waiting/state"))


def test_broker_down_at_start_then_back_events_in_order_and_retained_again(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    broker = Broker(folder)  # not started yet
    stop = Stop(stop_config(broker, tmp_path), lambda t: [] if int(t) % 2 else
                someone_between(0, 99)(t))  # someone for a second, gone for a second, ...
    try:
        time.sleep(4.5)  # the light switches while there is no broker at all
        assert len(stop.timeline.switches) >= 3
        broker.start()
        live = Collector(broker, (f"{ROOT}/#",))
        live.wait_for(lambda m: m.topic.endswith("/event"), timeout=10)
        time.sleep(1.0)
        # a broker restart: everything retained is published again after the reconnect
        broker.stop()
        time.sleep(1.0)
        broker.start()
        deadline = time.monotonic() + 10
        while stop.service.link.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        late = Collector(broker, (f"{ROOT}/#",))  # sees what the stop re-published, retained
        late.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online"
                      and m.retain, timeout=10)
        time.sleep(0.5)
        assert {m.topic for m in late.messages if m.retain} >= set(RETAINED)
    finally:
        stop.close()
        broker.stop()
    for c in (live, late):  # each subscriber sees them in order
        seqs = [e["seq"] for e in events(c)]
        assert seqs == sorted(seqs)
    # the broker acknowledged every event the outbox ever numbered (none lost); the collectors
    # may miss the few sent in the instant before they resubscribed after the restart
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    made = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    db.close()
    by_seq = {e["seq"]: e for e in events(live) + events(late)}
    ev = [by_seq[k] for k in sorted(by_seq)]
    assert max(by_seq) == made
    first_run = [e["seq"] for e in events(live)][:len(stop.timeline.switches)]
    assert first_run == list(range(1, len(first_run) + 1))  # the backlog, from the first
    light = [(e["t"], e["on"]) for e in ev if e["kind"] == "light" and e["t"] is not None
             and e["reason"] != "shutdown"]
    assert set(light) <= set(stop.timeline.switches)
    assert light == sorted(light)
    assert len(light) >= 3
    live.close()
    late.close()


def test_mqtt5_answer_carries_correlation_and_goes_to_response_topic(broker, tmp_path):
    live = Collector(broker, (f"{ROOT}/result/#", f"{ROOT}/light/mode/state"))
    stop = Stop(stop_config(broker, tmp_path), someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic.endswith("/light/mode/state"))
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"{ROOT}/result/light/mine"
        props.CorrelationData = b"c-42"
        send(broker, f"{ROOT}/cmd/light", b'{"mode": "ON", "for_s": 1, "id": 5}', props)
        want = {"ok": True, "id": 5, "error": None, "mode": "FORCE_ON", "for_s": 1.0}
        a = live.wait_for(lambda m: m.topic == f"{ROOT}/result/light")
        b = live.wait_for(lambda m: m.topic == f"{ROOT}/result/light/mine")
        for m in (a, b):
            assert json.loads(m.payload) == want
            assert m.properties.CorrelationData == b"c-42"
        live.wait_for(lambda m: m.topic.endswith("/light/mode/state") and m.text == "FORCE_ON")
        # for_s: back to AUTO by itself
        live.wait_for(lambda m: m.topic.endswith("/light/mode/state") and m.text == "AUTO",
                      after=live.mark() - 1, timeout=5)
        # a response topic outside the stop's root is ignored (a stop writes only below it)
        props.ResponseTopic = "elsewhere/x"
        send(broker, f"{ROOT}/cmd/status", b"", props)
        live.wait_for(lambda m: m.topic == f"{ROOT}/result/status")
    finally:
        stop.close()


def test_mqtt311_rate_limit_and_tele_counters(broker, tmp_path):
    cfg = stop_config(broker, tmp_path, protocol="3.1.1", cmd_rate_per_s=0.01, cmd_burst=2,
                      telemetry_s=1)
    live = Collector(broker, (f"{ROOT}/result/#", f"{ROOT}/tele"))
    stop = Stop(cfg, someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic.endswith("/tele"))
        for _ in range(5):
            send(broker, f"{ROOT}/cmd/status", b"")
        deadline = time.monotonic() + 5
        while len(live.on(f"{ROOT}/result/status")) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        answers = [json.loads(m.payload) for m in live.on(f"{ROOT}/result/status")]
        assert [a["ok"] for a in answers] == [True, True, False, False, False]
        assert answers[2]["error"] == "rate_limited"
        mark = live.mark()
        tele = json.loads(live.wait_for(lambda m: m.topic.endswith("/tele"), after=mark).payload)
        assert tele["commands"]["rejected"] == {"rate_limited": 3}
        assert tele["commands"]["accepted"] == 2
    finally:
        stop.close()


def test_selftest_reload_and_snapshot(broker, tmp_path):
    conf = tmp_path / "stop.yaml"
    base = {"enabled": True, "host": broker.host, "port": broker.port,
            "outbox": {"path": str(tmp_path / "o.sqlite")}}
    conf.write_text(json.dumps({"stop": {"id": "t1"}, "mqtt": base}))
    from edge.config import load_config

    live = Collector(broker, (f"{ROOT}/result/#", f"{ROOT}/snapshot", f"{ROOT}/selftest/state",
                              f"{ROOT}/faults/#"))
    stop = Stop(load_config(conf), someone_between(0.0, 99), config_path=conf)
    try:
        time.sleep(0.5)
        send(broker, f"{ROOT}/cmd/selftest", b'{"id": "st"}')
        a = json.loads(live.wait_for(lambda m: m.topic.endswith("/result/selftest")).payload)
        assert a["ok"] is True and a["id"] == "st", a
        c = a["checks"]
        assert c["relay"]["ok"] and c["model"]["ok"] and c["camera"]["ok"] and c["broker"]["ok"]
        # the last result stays on the broker for Home Assistant's "Last self-test"
        last = retained_now(broker, (f"{ROOT}/selftest/state",))
        body = json.loads(last[f"{ROOT}/selftest/state"])
        assert (body["result"], body["failed"]) == ("passed", [])
        assert abs((datetime.now(timezone.utc) - datetime.fromisoformat(body["at"]))
                   .total_seconds()) < 10
        # a fault: its name in faults/state, its raise time in faults/detail
        from edge.runtime.faults import Fault

        t_raise = time.time()
        stop.pipeline.faults.raise_(Fault.LAMP_FAILED)
        since = live.wait_for(lambda m: m.topic == f"{ROOT}/faults/detail"
                              and "lamp_failed" in m.text)
        at = datetime.fromisoformat(json.loads(since.payload)["lamp_failed"]["since"]
                                    ).timestamp()
        assert abs(at - t_raise) < 2
        stop.pipeline.faults.clear(Fault.LAMP_FAILED)
        live.wait_for(lambda m: m.topic == f"{ROOT}/faults/detail" and m.text == "{}")
        send(broker, f"{ROOT}/cmd/snapshot", b"")
        a = json.loads(live.wait_for(lambda m: m.topic.endswith("/result/snapshot")).payload)
        assert a == {"ok": False, "id": None, "error": "disabled",
                     "detail": "snapshots are off (privacy.snapshots)"}
        # a bad file is refused with the start-up message; the running config stays
        conf.write_text(json.dumps({"stop": {"id": "t1"}, "mqtt": base,
                                    "waiting": {"dwell_s": -1}}))
        send(broker, f"{ROOT}/cmd/reload", b"")
        a = json.loads(live.wait_for(lambda m: m.topic.endswith("/result/reload")).payload)
        assert a == {"ok": False, "id": None, "error": "config_error",
                     "detail": f"{conf}: waiting.dwell_s: is -1; accepted: a number from 0 "
                               "to 86400"}
        assert stop.pipeline.controller.settings.core.dwell_s == 0.3
        conf.write_text(json.dumps({"stop": {"id": "t1"}, "mqtt": base,
                                    "privacy": {"snapshots": True},
                                    "waiting": {"dwell_s": 1.5}, "camera": {"fps": 2}}))
        mark = live.mark()
        send(broker, f"{ROOT}/cmd/reload", b"")
        a = json.loads(live.wait_for(lambda m: m.topic.endswith("/result/reload"),
                                     after=mark).payload)
        assert a["ok"] is True and "waiting" in a["applied"] and "privacy" in a["applied"]
        assert "camera" in a["restart_needed"]
        assert stop.pipeline.controller.settings.core.dwell_s == 1.5
        # one running config: the stop's, which the MQTT service and the control read too;
        # the camera waits for a restart, so it keeps the value it runs on
        assert stop.service.cfg is stop.stop.cfg is stop.service.control.cfg
        assert stop.service.cfg.waiting.dwell_s == 1.5 and stop.service.cfg.camera.fps == 5.0
        mark = live.mark()
        send(broker, f"{ROOT}/cmd/snapshot", b"")
        a = json.loads(live.wait_for(lambda m: m.topic.endswith("/result/snapshot"),
                                     after=mark).payload)
        assert a["ok"] is True and a["people_blurred"] >= 1, a
        jpeg = live.wait_for(lambda m: m.topic == f"{ROOT}/snapshot").payload
        assert jpeg[:2] == b"\xff\xd8" and len(jpeg) == a["bytes"]
    finally:
        stop.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_tls_verifies_the_broker(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    for name in ("ca", "other"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                 f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
             "server.key", "-out", "server.csr", cwd=d)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "server.crt", cwd=d)
    folder = tmp_path / "b"
    folder.mkdir()
    broker = Broker(folder, tls=f"cafile {d}/ca.crt\ncertfile {d}/server.crt\n"
                    f"keyfile {d}/server.key")
    broker.start()
    try:
        good = Stop(stop_config(broker, tmp_path, tls={"enabled": True,
                                                       "ca_file": str(d / "ca.crt")}),
                    someone_between(99, 99))
        bad_cfg = stop_config(broker, tmp_path / "x", tls={"enabled": True,
                                                           "ca_file": str(d / "other.crt")})
        bad_cfg.stop.id = "t2"
        (tmp_path / "x").mkdir()
        bad = Stop(bad_cfg, someone_between(99, 99))
        deadline = time.monotonic() + 5
        while not good.service.link.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert good.service.link.connected
        assert not bad.service.link.connected  # an unknown CA is never trusted
        assert bad.thread.is_alive() and bad.source.n > 10  # and the frames go on
        good.close()
        bad.close()
    finally:
        broker.stop()


def test_credentials_and_the_example_acl(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "b"
    folder.mkdir()
    passwd = folder / "passwd"
    passwd.write_text("")
    for user, pw in (("t1", "pw-t1-secret"), ("t2", "pw-t2"), ("console", "pw-console"),
                     ("homeassistant", "pw-ha")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True,
                       capture_output=True)
    acl = REPO / "systemd/mosquitto/stopsafe.acl"
    broker = Broker(folder, extra=f"allow_anonymous false\npassword_file {passwd}\n"
                    f"acl_file {acl}")
    broker.start()
    try:
        pwfile = tmp_path / "pw"
        pwfile.write_text("pw-t1-secret\n")
        monkeypatch.setenv("STOPSAFE_MQTT_USERNAME", "t1")
        cfg = stop_config(broker, tmp_path, password_file=str(pwfile), telemetry_s=1)
        console = Collector(broker, ("stopsafe/#",), auth=("console", "pw-console"))
        # an older stopsafe's per-entity config, left under t1's id
        old = Collector(broker, ("homeassistant/#",), auth=("t1", "pw-t1-secret"))
        stale = "homeassistant/binary_sensor/t1/light/config"
        old.client.publish(stale, json.dumps({"unique_id": "stopsafe_t1_light", "state_topic":
                                              f"{ROOT}/light/state"}), qos=1, retain=True
                           ).wait_for_publish(5)
        old.close()
        ha = Collector(broker, ("homeassistant/#",), auth=("homeassistant", "pw-ha"))
        ha.wait_for(lambda m: m.topic == stale and m.retain)
        stop = Stop(cfg, someone_between(99, 99))
        console.wait_for(lambda m: m.topic == f"{ROOT}/tele")
        # the stop may write its device config and read back (and clear) its old ones; Home
        # Assistant's account reads them
        validate_config("homeassistant/device/stopsafe_t1/config", json.loads(ha.wait_for(
            lambda m: m.topic == "homeassistant/device/stopsafe_t1/config").payload))
        ha.wait_for(lambda m: m.topic == stale and m.payload == b"")
        ha.close()
        # the console may command t1; t1 answers
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id="console-x",
                        protocol=paho.MQTTv5)
        c.username_pw_set("console", "pw-console")
        c.connect(broker.host, broker.port)
        c.loop_start()
        c.publish(f"{ROOT}/cmd/light", b"ON", qos=1).wait_for_publish(5)
        assert json.loads(console.wait_for(
            lambda m: m.topic == f"{ROOT}/result/light").payload)["ok"] is True
        console.wait_for(lambda m: m.topic == f"{ROOT}/light/state" and m.text == "ON")
        mark = console.mark()
        # the console may not write anything but commands
        c.publish(f"{ROOT}/light/state", b"OFF", qos=1).wait_for_publish(5)
        # t2 may not write below t1's root nor read t1's commands
        t2 = Collector(broker, ("stopsafe/t1/cmd/#",), auth=("t2", "pw-t2"))
        t2.client.publish(f"{ROOT}/light/state", b"HACKED", qos=1).wait_for_publish(5)
        c.publish(f"{ROOT}/cmd/status", b"", qos=1).wait_for_publish(5)
        console.wait_for(lambda m: m.topic == f"{ROOT}/result/status", after=mark)
        time.sleep(0.5)
        after = [m.text for m in console.messages[mark:] if m.topic == f"{ROOT}/light/state"]
        assert after == ["ON"]  # only t1's own re-publication
        assert t2.messages == []
        c.loop_stop()
        c.disconnect()
        t2.close()
        stop.close()
        everything = b"".join(m.payload for m in console.messages)
        assert b"pw-t1-secret" not in everything
        assert "pw-t1-secret" not in capsys.readouterr().err
        console.close()
    finally:
        broker.stop()
