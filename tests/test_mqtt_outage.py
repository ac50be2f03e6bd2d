"""The broker stopped for 30 s in the middle of a realtime sim run and started again: the light
timeline is the same as in a run without the outage, and every event arrives, in order.

It plays the whole one-by-one clip in real time (about 140 s), so it runs with the long
hostile-world tests (`make test-hostile`); the normal run keeps the quicker broker outage of
tests/test_faults.py (injected on the clip's clock) and the short kill -9 test."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime

import pytest

from tests.conftest import REPO, scenario_path
from tests.mqtt_fixtures import Broker, Collector

pytestmark = [pytest.mark.mqtt, pytest.mark.hostile]
OUTAGE_S = 30.0


def start_sim(broker: Broker, stop_id: str, tmp, realtime: bool) -> subprocess.Popen:
    cfg = tmp / f"{stop_id}.yaml"
    cfg.write_text(json.dumps({
        "stop": {"id": stop_id},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "keepalive_s": 5,
                 "reconnect_min_s": 0.5, "reconnect_max_s": 2.0, "discovery": False,
                 "outbox": {"path": str(tmp / f"{stop_id}.sqlite")}},
        # a light processing rate, so the realtime run keeps up (and drops no frame) even on a
        # busy CI machine; both runs use it
        "camera": {"fps": 2.5},
        "logging": {"format": "json", "level": "info"},  # the switches are read from the log
    }))
    args = ["sim", "--json", *(["--realtime"] if realtime else []),
            str(scenario_path("one-by-one")), "-c", str(cfg)]
    return subprocess.Popen([sys.executable, "-m", "edge.cli", *args], cwd=REPO,
                            stdout=open(tmp / f"{stop_id}.json", "w"),
                            stderr=open(tmp / f"{stop_id}.log", "w"),
                            env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"})


def events(c: Collector, stop_id: str) -> list[tuple[float, dict]]:
    return [(m.at, json.loads(m.payload)) for m in c.on(f"stopsafe/{stop_id}/event")]


def logged_switches(tmp, stop_id: str) -> list[tuple]:
    """The light switches as the daemon's own log has them (the pipeline's truth)."""
    out = []
    for line in (tmp / f"{stop_id}.log").read_text().splitlines():
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("event") in ("light_on", "light_off") and e.get("reason") != "shutdown":
                out.append((e["t"], e["event"] == "light_on"))
    return out


def light_timeline(evs: list[dict]) -> list[tuple]:
    return [(e["t"], e["on"], e["reason"]) for e in evs if e["kind"] == "light"]


def test_broker_outage_changes_nothing_and_loses_no_event(shared, models_dir, tmp_path):
    dirs = {}
    for name in ("base", "out"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
    base_broker = Broker(dirs["base"])
    out_broker = Broker(dirs["out"], persistence=True)  # keeps the collector's session
    base_broker.start()
    out_broker.start()
    base_live = Collector(base_broker, ("stopsafe/#",))
    out_live = Collector(out_broker, ("stopsafe/#",), session=True)
    baseline = start_sim(base_broker, "base", tmp_path, realtime=False)
    run = start_sim(out_broker, "out", tmp_path, realtime=True)
    figures: dict = {}
    try:
        # stop the broker once the run is well under way (after its third event)
        out_live.wait_for(lambda m: m.topic.endswith("/event")
                          and json.loads(m.payload)["seq"] >= 3, timeout=120)
        out_broker.stop()
        stopped_at, stopped_wall = time.monotonic(), datetime.now().astimezone()
        time.sleep(OUTAGE_S)
        out_broker.start()
        restarted_at, restarted_wall = time.monotonic(), datetime.now().astimezone()
        assert run.wait(timeout=300) == 0
        assert baseline.wait(timeout=300) == 0
        out_live.wait_for(lambda m: m.topic == "stopsafe/out/status" and m.text == "stopped",
                          timeout=20)
        base_live.wait_for(lambda m: m.topic == "stopsafe/base/status"
                           and m.text == "stopped", timeout=20)
    finally:
        for p in (run, baseline):
            if p.poll() is None:
                p.kill()
        base_live.close()
        out_live.close()
        base_broker.stop()
        out_broker.stop()
    base = [e for _, e in events(base_live, "base")]
    got = events(out_live, "out")
    first: dict[int, tuple[float, dict]] = {}
    for at, e in got:  # QoS 1 may repeat an event; its seq tells
        first.setdefault(e["seq"], (at, e))
    arrival = [seq for seq, _ in sorted(first.items(), key=lambda kv: kv[1][0])]
    assert arrival == sorted(arrival), "events out of order"
    seqs = sorted(first)
    # the outbox knows how many events the daemon made, and holds none undelivered
    db = sqlite3.connect(tmp_path / "out.sqlite")
    made = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()[0]
    left = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    db.close()
    assert left == 0
    assert seqs == list(range(1, made + 1)), "events lost"
    out = [first[s][1] for s in seqs]
    # what reached the broker is exactly what the light did in this run ...
    assert [(round(t, 2), on) for t, on, r in light_timeline(out) if r != "shutdown"] == \
        [(round(t, 2), on) for t, on in logged_switches(tmp_path, "out")]
    # the events made while the broker was away arrived after it came back
    during = [s for s in seqs
              if stopped_wall <= datetime.fromisoformat(first[s][1]["ts"]) <= restarted_wall]
    assert during, "no event fell into the outage: the test proves nothing"
    assert all(first[s][0] >= restarted_at for s in during)
    figures.update(events=len(seqs), during_outage=len(during),
                   repeats=len(got) - len(first), light_switches=len(light_timeline(out)),
                   outage_s=round(restarted_at - stopped_at, 2),
                   last_outage_event_delivered_after_restart_s=round(
                       max(first[s][0] for s in during) - restarted_at, 2))
    frames = {n: json.loads((tmp_path / f"{n}.json").read_text())["frames"]
              for n in ("base", "out")}
    figures["frames"] = frames
    print("OUTAGE_FIGURES", json.dumps(figures))
    if frames["out"] != frames["base"]:
        # sim --realtime drops frames like a live camera when the machine cannot keep up; then
        # the two runs saw different pictures and their timelines may differ for that alone
        pytest.xfail(f"the realtime run dropped {frames['base'] - frames['out']} frames "
                     "(machine overloaded)")
    # ... and the same as in the run without any outage
    assert light_timeline(out) == light_timeline(base)
    strip = [{k: v for k, v in e.items() if k not in ("ts", "seq")} for e in out]
    assert strip == [{k: v for k, v in e.items() if k not in ("ts", "seq")} for e in base]
