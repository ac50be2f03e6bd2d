"""Issue 12, MQTT side, on a real mosquitto: retained commands are never obeyed (and are cleared),
the broker never delivers a payload above the stop's Maximum Packet Size, and a stop logged in
with its own password cannot take another stop's client id with the example broker config."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import REPO
from tests.mqtt_fixtures import Broker, Collector
from tests.mqtt_stop import Stop, someone_between, stop_config

pytestmark = pytest.mark.mqtt
ROOT = "stopsafe/t1"


def client(broker: Broker, client_id: str | None = None, auth: tuple[str, str] | None = None,
           v5: bool = True) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:6]}",
                    protocol=paho.MQTTv5 if v5 else paho.MQTTv311)
    if auth:
        c.username_pw_set(*auth)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def publish(broker: Broker, topic: str, payload: bytes, retain: bool = False) -> None:
    c = client(broker)
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def retained_now(broker: Broker, topic: str) -> list[bytes]:
    """What a newcomer gets as retained on ``topic``."""
    c = Collector(broker, (topic,))
    time.sleep(0.4)
    c.close()
    return [m.payload for m in c.messages if m.retain]


def kick(broker: Broker, client_id: str) -> None:
    """Take over ``client_id`` for a moment: the stop is disconnected and comes back."""
    c = client(broker, client_id)
    time.sleep(0.2)
    c.loop_stop()
    c.disconnect()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_retained_commands_are_refused_cleared_and_never_obeyed_again(broker, tmp_path,
                                                                      protocol):
    # before: a retained ON on cmd/light overrode the crew's later AUTO at every reconnect
    publish(broker, f"{ROOT}/cmd/light", b"ON", retain=True)
    publish(broker, f"{ROOT}/cmd/selftest", b"{}", retain=True)
    live = Collector(broker, (f"{ROOT}/result/#", f"{ROOT}/light/mode/state", f"{ROOT}/status",
                              f"{ROOT}/tele"))
    cfg = stop_config(broker, tmp_path, protocol=protocol, telemetry_s=1)
    stop = Stop(cfg, someone_between(99, 99))
    try:
        for name in ("light", "selftest"):
            a = json.loads(live.wait_for(lambda m, n=name: m.topic == f"{ROOT}/result/{n}").payload)
            assert a["ok"] is False and a["error"] == "retained", a
        # the broker no longer holds them (a stop may write below its own root)
        deadline = time.monotonic() + 5
        while retained_now(broker, f"{ROOT}/cmd/#") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert retained_now(broker, f"{ROOT}/cmd/#") == []
        # the crew's AUTO stands through reconnects
        publish(broker, f"{ROOT}/cmd/light", b"AUTO")
        mark = live.mark()
        for _ in range(3):
            before = live.mark()
            kick(broker, "stopsafe-t1")
            live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online",
                          after=before, timeout=10)
        time.sleep(0.5)
        modes = [m.text for m in live.messages[mark:] if m.topic.endswith("/light/mode/state")]
        assert set(modes) <= {"AUTO"}, modes
        assert stop.pipeline.light.read() is False
        # a retained command sent while the stop is connected is refused at once (MQTT 5
        # shows the retain flag as published); MQTT 3.1.1 cannot tell it from a live one
        if protocol == "5":
            mark = live.mark()
            publish(broker, f"{ROOT}/cmd/light", b"ON", retain=True)
            a = json.loads(live.wait_for(lambda m: m.topic == f"{ROOT}/result/light",
                                         after=mark).payload)
            assert a["error"] == "retained"
        # only the answers above: the empty clearing messages were not taken as commands
        tele = json.loads(live.wait_for(lambda m: m.topic == f"{ROOT}/tele",
                                        after=live.mark()).payload)
        rejected = tele["commands"]["rejected"]
        assert set(rejected) == {"retained"}, rejected
        assert stop.pipeline.light.read() is False
    finally:
        stop.close()
        live.close()


def test_mqtt5_giant_payload_is_never_delivered(broker, tmp_path):
    cfg = stop_config(broker, tmp_path, cmd_max_bytes=4096)
    live = Collector(broker, (f"{ROOT}/result/#", f"{ROOT}/light/mode/state"))
    stop = Stop(cfg, someone_between(99, 99))
    try:
        live.wait_for(lambda m: m.topic.endswith("/light/mode/state"))
        publish(broker, f"{ROOT}/cmd/light", b" " * 1_000_000 + b"ON")
        publish(broker, f"{ROOT}/cmd/status", b"")  # a small one after it is answered
        live.wait_for(lambda m: m.topic == f"{ROOT}/result/status")
        assert live.on(f"{ROOT}/result/light") == []  # never reached the stop
        assert stop.service.handler.rejected.get("too_large", 0) == 0
    finally:
        stop.close()
        live.close()


def test_example_broker_config_ties_client_id_to_user_name(tmp_path, monkeypatch):
    """Stop t2, with its own password, connects with t1's client id: t1 stays connected."""
    folder = tmp_path / "b"
    folder.mkdir()
    passwd = folder / "passwd"
    passwd.write_text("")
    for user, pw in (("t1", "pw-t1"), ("t2", "pw-t2"), ("console", "pw-console")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True,
                       capture_output=True)
    acl = REPO / "systemd/mosquitto/stopsafe.acl"
    example = (REPO / "systemd/mosquitto/stopsafe.conf").read_text()
    # the example's own settings, with this test's files and port
    keep = [line for line in example.splitlines()
            if line.strip() and not line.startswith("#")
            and line.split()[0] not in ("listener", "password_file", "acl_file",
                                        "persistence", "persistence_location", "log_dest")]
    assert any(line.startswith("use_username_as_clientid true") for line in keep)
    broker = Broker(folder, extra="\n".join([*keep, f"password_file {passwd}",
                                             f"acl_file {acl}"]))
    broker.start()
    try:
        pw = tmp_path / "pw"
        pw.write_text("pw-t1\n")
        monkeypatch.setenv("STOPSAFE_MQTT_USERNAME", "t1")
        cfg = stop_config(broker, tmp_path, password_file=str(pw))
        console = Collector(broker, (f"{ROOT}/status",), auth=("console", "pw-console"))
        stop = Stop(cfg, someone_between(99, 99))
        try:
            console.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online")
            mark = console.mark()
            for _ in range(5):
                hostile = client(broker, "stopsafe-t1", auth=("t2", "pw-t2"))
                time.sleep(0.3)
                hostile.loop_stop()
                hostile.disconnect()
            time.sleep(1.0)
            after = [m.text for m in console.messages[mark:]]
            assert "offline" not in after, after
            assert stop.service.link.connects == 1
        finally:
            stop.close()
            console.close()
    finally:
        broker.stop()
