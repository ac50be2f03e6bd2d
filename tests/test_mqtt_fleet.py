"""fleet-sim and the console together: every fake stop is listed within 10 s of starting, the
console answers and stays light. The 1,000-stop run is the ``load`` test (not in the default
run); the default run does the same with 200 stops."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import REPO
from tests.helpers import stop_fleet
from tests.mqtt_fixtures import Broker

pytestmark = pytest.mark.mqtt


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=REPO,
                          capture_output=True, text=True, **kw)


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class SysCounters:
    """mosquitto's $SYS message counters (the fixture's broker publishes them every second)."""

    def __init__(self, broker: Broker) -> None:
        self.values: dict[str, float] = {}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sys-counters")
        self.client.on_message = lambda _c, _u, m: self.values.__setitem__(
            m.topic, float(m.payload.decode() or 0))
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([("$SYS/broker/messages/received", 0),
                               ("$SYS/broker/messages/sent", 0),
                               ("$SYS/broker/clients/connected", 0)])
        self.client.loop_start()

    def get(self, name: str) -> float:
        return self.values.get(f"$SYS/broker/{name}", 0.0)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def fleet_and_console(broker: Broker, stops: int) -> dict:
    sysc = SysCounters(broker)
    time.sleep(1.5)
    recv0, sent0, t_sys0 = sysc.get("messages/received"), sysc.get("messages/sent"), \
        time.monotonic()
    t0 = time.monotonic()
    fleet = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "fleet-sim", "--stops", str(stops), "--broker",
         broker.address, "--telemetry-s", "10", "--seed", "3"], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own process group: the workers go with it
    figures: dict = {"stops": stops}
    try:
        listed, runs = 0, 0
        while listed < stops and time.monotonic() - t0 < 30:
            cpu0, w0 = children_cpu_s(), time.monotonic()
            p = cli("console", "--json", "--broker", broker.address, "--settle", "0.5",
                    timeout=60)
            assert p.returncode == 0, p.stderr[-2000:]
            rows = json.loads(p.stdout)
            listed = sum(r["stop"].startswith("fleet-") and r["online"] for r in rows)
            runs += 1
        figures["all_listed_after_s"] = round(time.monotonic() - t0, 2)
        figures["console_json_runs"] = runs
        figures["console_json_last_run_s"] = round(time.monotonic() - w0, 2)
        figures["console_json_last_run_cpu_s"] = round(children_cpu_s() - cpu0, 2)
        assert listed == stops
        # the table as text (the terminal UI is timed in tests/test_console.py)
        p = cli("console", "--once", "--broker", broker.address, "--rows", "40", timeout=90)
        assert p.returncode == 0, p.stderr[-2000:]
        assert f"{stops} stops, {stops} online" in " ".join(p.stdout.split())
        # a command to one fake stop, through the same broker, under that load
        p = cli("console", "send", "--broker", broker.address, "fleet-0007", "light", "ON",
                timeout=60)
        assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True, p.stderr
        dt = time.monotonic() - t_sys0
        figures["broker_msgs_received_per_s"] = round(
            (sysc.get("messages/received") - recv0) / dt, 1)
        figures["broker_msgs_sent_per_s"] = round((sysc.get("messages/sent") - sent0) / dt, 1)
        figures["broker_clients_connected"] = int(sysc.get("clients/connected"))
        figures["window_s"] = round(dt, 1)
    finally:
        err = stop_fleet(fleet)
        sysc.close()
    assert fleet.returncode == 0, err[-2000:]
    figures["fleet_stderr"] = err.strip().splitlines()[-3:]
    print("FLEET_FIGURES", json.dumps(figures))
    return figures


def test_fleet_of_200_listed_by_the_console(broker):
    f = fleet_and_console(broker, 200)
    assert f["all_listed_after_s"] <= 10.0


@pytest.mark.load
def test_fleet_of_1000_listed_by_the_console_within_10_s(tmp_path):
    """``stopsafe fleet-sim --stops 1000``: one broker connection and last will per stop."""
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(folder)
    broker.start()
    try:
        f = fleet_and_console(broker, 1000)
    finally:
        broker.stop()
    assert f["all_listed_after_s"] <= 10.0


def test_console_shows_offline_and_faulty_stops_first():
    from fleet.view import FleetTable, SortKey

    t = FleetTable("stopsafe")
    for stop, status, faults in (("a", "online", "[]"), ("b", "offline", "[]"),
                                 ("c", "online", '["camera_stale"]'), ("d", "stopped", "[]")):
        t.update(f"stopsafe/{stop}/status", status.encode(), 1.0)
        t.update(f"stopsafe/{stop}/faults/state", faults.encode(), 1.0)
    t.update("stopsafe/a/tele", json.dumps({"fps": 4.8, "inference_ms": {"p50": 41.0}}).encode())
    t.update("elsewhere/x/status", b"online")
    rows = t.snapshot(SortKey.STOP)
    assert [r.stop for r in rows] == ["b", "d", "c", "a"]
    assert (rows[3].fps, rows[3].inference_ms) == (4.8, 41.0)
    assert rows[2].faults == ["camera_stale"]


def test_console_shows_a_static_object_with_its_box():
    from fleet.view import FleetTable, SortKey, render, rows_json

    t = FleetTable("stopsafe")
    t.update("stopsafe/a/status", b"online", 1.0)
    t.update("stopsafe/a/event", json.dumps({"kind": "light", "on": True}).encode(), 1.0)
    t.update("stopsafe/a/event", json.dumps({
        "kind": "fault", "fault": "static_object", "active": True,
        "detail": {"boxes": [[0.45, 0.5, 0.55, 0.8]]}}).encode(), 1.0)
    t.update("stopsafe/a/faults/state", b'["static_object"]', 1.0)
    row = t.snapshot(SortKey.STOP)[0]
    assert row.fault_text() == "static_object [0.45, 0.5, 0.55, 0.8]"
    assert rows_json([row])[0]["fault_boxes"] == {"static_object": [[0.45, 0.5, 0.55, 0.8]]}
    render(t, SortKey.STOP, False, 10)
    t.update("stopsafe/a/event", json.dumps({"kind": "fault", "fault": "static_object",
                                            "active": False}).encode(), 2.0)
    t.update("stopsafe/a/faults/state", b"[]", 2.0)
    row = t.snapshot(SortKey.STOP)[0]
    assert row.fault_text() == "" and row.fault_boxes == {}
