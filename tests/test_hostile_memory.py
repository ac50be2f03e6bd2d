"""Issue 12: the daemon's peak memory (VmHWM) under a 50 MB payload on ``cmd/``, on the real
daemon and a real mosquitto. With MQTT 5 the stop asks for a Maximum Packet Size at connect and
the broker never delivers the payload; with MQTT 3.1.1 (no such property) it is read, then
refused as too large: the figure shows what the property saves. Marker ``hostile`` (``make
test-hostile``): it moves 100 MB through a shared machine."""

from __future__ import annotations

import json
import time

import pytest

from tests.daemon_proc import daemon_config, start_daemon, write_config
from tests.mqtt_fixtures import Collector
from tests.test_hostile_mqtt import client

pytestmark = [pytest.mark.mqtt, pytest.mark.hostile]
ROOT = "stopsafe/h1"
PAYLOAD_MB = 50


def status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key}")


def peak_rss_mb(pid: int) -> float:
    return status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_peak_memory_under_a_50_mb_command(shared, models_dir, broker, tmp_path, protocol):
    doc = daemon_config(tmp_path, broker)
    doc["mqtt"]["protocol"] = protocol
    conf = write_config(tmp_path, doc)
    live = Collector(broker, (f"{ROOT}/result/#", f"{ROOT}/tele", f"{ROOT}/status"))
    proc = start_daemon(conf, tmp_path / "daemon.log")
    try:
        live.wait_for(lambda m: m.topic == f"{ROOT}/tele" and b'"camera":"ok"' in m.payload,
                      timeout=90)
        time.sleep(3)  # past start-up's own peak
        before_peak, before = peak_rss_mb(proc.pid), rss_mb(proc.pid)
        sender = client(broker)
        mark = live.mark()
        sender.publish(f"{ROOT}/cmd/light", b" " * (PAYLOAD_MB << 20) + b"ON",
                       qos=1).wait_for_publish(60)
        sender.publish(f"{ROOT}/cmd/status", b"", qos=1).wait_for_publish(10)
        live.wait_for(lambda m: m.topic == f"{ROOT}/result/status", after=mark, timeout=60)
        time.sleep(1)
        after_peak = peak_rss_mb(proc.pid)
        answers = [json.loads(m.payload) for m in live.messages[mark:]
                   if m.topic == f"{ROOT}/result/light"]
        sender.loop_stop()
        sender.disconnect()
        assert proc.poll() is None
        figures = {"protocol": protocol, "rss_before_mb": round(before, 1),
                   "peak_before_mb": round(before_peak, 1), "peak_after_mb": round(after_peak, 1),
                   "peak_growth_mb": round(after_peak - before_peak, 1),
                   "light_answers": [a["error"] for a in answers]}
        print("MEMORY_FIGURES", json.dumps(figures))
        offline = [m for m in live.messages[mark:] if m.topic == f"{ROOT}/status"
                   and m.text == "offline"]
        assert not offline, "the payload knocked the stop off the broker"
        if protocol == "5":
            assert answers == []  # never delivered
            assert after_peak - before_peak < 10, figures
        else:
            assert [a["error"] for a in answers] == ["too_large"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        live.close()
