"""Commissioning refuses what is not ready: the example config as shipped, a broker that does not
take the stop's login or its topics; a warning stays a warning; the walk test, on the daemon's
pipeline through its page and on a pipeline of its own."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import structlog
import yaml

from edge.cli import main
from edge.config import parse_config
from edge.install.commissioning import Verdict, check_broker, check_configured
from sim.broker import Broker, free_port
from tests.conftest import REPO
from tests.test_commission import CLIP, CONFIGURED, FAST, write_config
from tests.web_stop import EMPTY, stop_doc, web_stop

EXAMPLE = REPO / "edge" / "stopsafe.example.yaml"


@pytest.fixture(autouse=True)
def _unbind_logging():
    yield
    structlog.reset_defaults()


def test_the_example_config_as_shipped_fails_naming_what_is_unconfigured(tmp_path, models_dir,
                                                                          capsys):
    path = tmp_path / "stopsafe.yaml"
    path.write_text(EXAMPLE.read_text().replace("source: /dev/video0", f"source: {CLIP}")
                    .replace("# models_dir: /var/lib/stopsafe/models", f"models_dir: {models_dir}")
                    .replace("pin_factory: auto", "pin_factory: mock"))
    path.chmod(0o640)
    rc = main(["commission", "-c", str(path), "-o", str(tmp_path / "r"), *FAST])
    assert rc == 1
    report = json.loads((tmp_path / "r/selftest.json").read_text())
    configured = next(c for c in report["checks"] if c["name"] == "configured")
    assert configured["status"] == "fail"
    for says in ("stop.id is the example's (stop-0001)",
                 "stop.name is the example's ('Main St / 5th Ave northbound')",
                 "zone.polygon is the whole frame",
                 "mqtt.enabled is false: configure the broker, or set mqtt.standalone: true"):
        assert says in configured["message"]
    # the rest of the box works: only what the installer must set fails
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == ["configured"]
    assert "FAIL configured: stop.id is the example's" in capsys.readouterr().out


def test_a_configured_stop_passes_the_readiness_check():
    cfg = parse_config(CONFIGURED)
    assert check_configured(cfg).status is Verdict.PASS
    assert "zone 63% of the frame, standalone (no MQTT)" in check_configured(cfg).message
    cfg = parse_config({**CONFIGURED, "stop": {"id": "x1", "name": ""}})
    assert check_configured(cfg).message == "stop.name is empty"


def test_a_warning_is_reported_as_a_warning_not_a_traceback(tmp_path, models_dir, capsys):
    cfg = write_config(tmp_path / "c.yaml", models_dir, CLIP)
    cfg.chmod(0o644)  # readable by others, as a hand-copied file is
    rc = main(["commission", "-c", str(cfg), "-o", str(tmp_path / "r"), *FAST])
    assert rc == 0
    out = capsys.readouterr().out
    assert "WARN permissions: " in out and "readable by every user (mode 0644" in out
    html = (tmp_path / "r/report.html").read_text()
    assert "PASSED" in html and ">WARN</td><td>permissions" in html


@pytest.fixture
def locked_broker(tmp_path):
    """mosquitto with the example's broker settings, a password file and the example ACL."""
    folder = tmp_path / "b"
    folder.mkdir()
    passwd = folder / "passwd"
    passwd.write_text("")
    for user, pw in (("s1", "pw-s1"), ("s2", "pw-s2")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True,
                       capture_output=True)
    acl = REPO / "systemd/mosquitto/stopsafe.acl"
    b = Broker(folder, extra="\n".join(["allow_anonymous false", f"password_file {passwd}",
                                        f"acl_file {acl}"]))
    b.start()
    yield b
    b.stop()


def test_the_broker_check_logs_in_and_makes_a_round_trip_on_the_stops_topics(
        tmp_path, locked_broker, monkeypatch):
    def cfg(stop_id: str, user: str, password: str):  # the stop's own login
        pw = tmp_path / f"pw-{user}-{password}"
        pw.write_text(password + "\n")
        return parse_config({"stop": {"id": stop_id}, "mqtt": {
            "enabled": True, "host": locked_broker.host, "port": locked_broker.port,
            "username": user, "password_file": str(pw)}})

    ok = check_broker(cfg("s1", "s1", "pw-s1"))
    assert ok.status is Verdict.PASS, ok.message
    assert "round trip on stopsafe/s1/cmd/commission" in ok.message
    wrong = check_broker(cfg("s1", "s1", "not-the-password"))
    assert wrong.status is Verdict.FAIL and "refused the login as 's1'" in wrong.message
    # logged in, but the ACL gives user s2 only stopsafe/s2/...: not this stop's topics
    other = check_broker(cfg("s1", "s2", "pw-s2"), timeout_s=2.0)
    assert other.status is Verdict.FAIL
    assert "never received it back: the broker's ACL does not let this login write and read " \
        "the stop's own topics (stopsafe/s1/...)" in other.message
    closed = check_broker(parse_config({"mqtt": {"enabled": True, "host": "127.0.0.1",
                                                 "port": free_port()}}))
    assert closed.status is Verdict.FAIL and "cannot reach" in closed.message


def test_commission_walk_through_the_running_daemon_passes(tmp_path, shared, models_dir,
                                                           capsys):
    port = free_port()
    doc = stop_doc(web={"port": port}, zone=CONFIGURED["zone"],
                   lamp_feedback={"pin": 27, "follow_s": 1.0})
    with web_stop(tmp_path, doc, speed=8.0) as ws:
        config = tmp_path / "commission.yaml"  # the daemon's own file, as the installer has it
        config.write_text(ws.config_path.read_text().replace("port: 0", f"port: {port}"))
        config.chmod(0o600)
        rc = main(["commission", "-c", str(config), "-o", str(tmp_path / "r"), "--walk",
                   "--walk-seconds", "60"])
    out, err = capsys.readouterr()
    report = json.loads((tmp_path / "r/selftest.json").read_text())
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert rc == 0, out
    assert report["through_daemon"] is True
    assert status == {"config": "pass", "configured": "pass", "clock": "pass",
                      "permissions": "pass", "daemon": "pass", "relay": "pass", "lamp": "pass",
                      "camera": "pass", "model": "pass", "walk": "pass"}
    assert report["walk"]["status"] == "pass" and "PASS: first seen at" in out
    assert "walk test: walk into the zone" in err
    html = (tmp_path / "r/report.html").read_text()
    jpeg = base64.b64decode(html.split('src="data:image/jpeg;base64,', 1)[1].split('"', 1)[0])
    assert jpeg[:2] == b"\xff\xd8"  # the daemon's picture (people pixelated), inside the file
    assert "PASS: first seen at" in html


def test_commission_walk_on_an_empty_clip_fails(tmp_path, shared, models_dir, capsys):
    cfg = write_config(tmp_path / "c.yaml", models_dir, EMPTY)
    rc = main(["commission", "-c", str(cfg), "-o", str(tmp_path / "r"), "--walk",
               "--walk-seconds", "5", *FAST])
    assert rc == 1
    report = json.loads((tmp_path / "r/selftest.json").read_text())
    walk = next(c for c in report["checks"] if c["name"] == "walk")
    assert walk["status"] == "fail"
    assert walk["message"].startswith("FAIL: never first seen, waiting began, light on, "
                                      "light off within 5 s")
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == ["walk"]
    assert yaml.safe_load(Path(cfg).read_text())["stop"]["id"] == "test-stop-7"


def test_commission_through_the_daemon_checks_its_broker_link(tmp_path, shared, models_dir,
                                                              broker, capsys):
    port = free_port()
    doc = stop_doc(web={"port": port}, zone=CONFIGURED["zone"],
                   mqtt={"standalone": False, "enabled": True, "host": broker.host,
                         "port": broker.port, "discovery": False,
                         "outbox": {"path": str(tmp_path / "outbox.sqlite")}})
    with web_stop(tmp_path, doc, speed=4.0) as ws:
        config = tmp_path / "commission.yaml"
        config.write_text(ws.config_path.read_text().replace("port: 0", f"port: {port}"))
        config.chmod(0o600)
        rc = main(["commission", "-c", str(config), "-o", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (f"PASS broker: the daemon is logged in to 127.0.0.1:{broker.port} as the stop; the "
            "broker acknowledged its self-test publish in") in out
