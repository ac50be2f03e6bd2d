"""Issue 12, signals, on the real daemon and a real mosquitto: SIGHUP reloads the config (a bad
file keeps the running one); any terminating signal switches the light off first and leaves
``status`` ``stopped``."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.daemon_proc import daemon_config, log_events, start_daemon, wait_logged, write_config
from tests.mqtt_fixtures import Collector
from tests.test_hostile_mqtt import publish

pytestmark = pytest.mark.mqtt
ROOT = "stopsafe/h1"


@pytest.mark.parametrize("final", [signal.SIGQUIT,
                                   pytest.param(signal.SIGUSR1, marks=pytest.mark.hostile)])
def test_sighup_reloads_and_every_ending_signal_switches_the_light_off(
        shared, models_dir, broker, tmp_path, final):
    doc = daemon_config(tmp_path, broker)
    conf = write_config(tmp_path, doc)
    log = tmp_path / "daemon.log"
    live = Collector(broker, (f"{ROOT}/#",))
    proc = start_daemon(conf, log)
    try:
        live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "online", timeout=60)
        live.wait_for(lambda m: m.topic == f"{ROOT}/tele" and b'"camera":"ok"' in m.payload,
                      timeout=60)
        publish(broker, f"{ROOT}/cmd/light", b"ON")
        live.wait_for(lambda m: m.topic == f"{ROOT}/light/state" and m.text == "ON")
        # a good file: reloaded, the daemon and its light go on; the detector's crop follows
        # the new zone from the next frame (issue 22: it used to keep the old one)
        first = wait_logged(log, "detector_region", proc=proc)
        doc["waiting"] = {"dwell_s": 4.0}
        doc["zone"] = {"polygon": [[0.45, 0.75], [0.75, 0.75], [0.75, 1.0], [0.45, 1.0]]}
        write_config(tmp_path, doc)
        mark = len(log_events(log))
        proc.send_signal(signal.SIGHUP)
        done = wait_logged(log, "config_reloaded", timeout=20, proc=proc, after=mark)
        assert done["applied"] == ["zone", "waiting"] and done["restart_needed"] == []
        region = wait_logged(log, "detector_region", timeout=20, proc=proc, after=mark)
        assert region["cropped"] and not first["cropped"], (first, region)
        # a bad file: refused, logged, the running config kept
        conf.write_text("waiting: {dwell_s: -1}\n")
        proc.send_signal(signal.SIGHUP)
        refused = wait_logged(log, "reload_refused", timeout=20, proc=proc)
        assert "waiting.dwell_s" in refused["error"]
        time.sleep(1.0)
        assert proc.poll() is None, "SIGHUP ended the daemon"
        assert live.on(f"{ROOT}/light/state")[-1].text == "ON"
        mark = live.mark()
        proc.send_signal(final)
        assert proc.wait(timeout=30) == 0
        live.wait_for(lambda m: m.topic == f"{ROOT}/status" and m.text == "stopped",
                      after=mark, timeout=10)
        after = [m for m in live.messages[mark:]]
        assert [m.text for m in after if m.topic == f"{ROOT}/light/state"] == ["OFF"]
        assert "offline" not in [m.text for m in after if m.topic == f"{ROOT}/status"]
        off = [json.loads(m.payload) for m in after if m.topic == f"{ROOT}/event"]
        assert any(e["kind"] == "light" and e["on"] is False and e["reason"] == "shutdown"
                   for e in off), off
        assert wait_logged(log, "signal", timeout=1)["signal"] in ("SIGHUP", final.name)
        stopped = wait_logged(log, "daemon_stopped", timeout=1)
        assert stopped["light"] == "off"
    finally:
        if proc.poll() is None:
            proc.kill()
        live.close()


def test_sigterm_during_start_up_ends_it_cleanly(shared, models_dir, broker, tmp_path):
    """Before, the handlers came after the model and the camera: a SIGTERM while they loaded
    killed the process with the default action (exit -15, the will says offline)."""
    conf = write_config(tmp_path, daemon_config(tmp_path, broker))
    log = tmp_path / "daemon.log"
    live = Collector(broker, (f"{ROOT}/status",))
    proc = start_daemon(conf, log)
    try:
        wait_logged(log, "mqtt_started", timeout=60, proc=proc)  # the model loads next
        live.wait_for(lambda m: m.text == "online", timeout=10)
        loaded = any(e.get("event") == "daemon_started" for e in log_events(log))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        live.wait_for(lambda m: m.text == "stopped", timeout=10)
        assert "offline" not in [m.text for m in live.messages]
        print("SIGTERM_DURING_START", {"model_loaded_before_signal": loaded})
    finally:
        if proc.poll() is None:
            proc.kill()
        live.close()
