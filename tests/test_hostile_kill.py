"""Issue 12: ``kill -9`` of the real daemon at random moments, with the broker going down and
up at random moments too: no event the outbox numbered is ever lost, and the outbox file is
never corrupt (SQLite's quick_check after every kill).

The daemon is ``stopsafe run`` with the real model, watching a folder of frames from the
one-by-one clip in which someone appears and leaves every 3 s, so that it makes events (light
on, light off, waiting ended) all the time, broker or not. The normal run kills it 3 times;
``make test-hostile`` (marker ``hostile``) 24 times.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from pathlib import Path

import cv2
import pytest

from sim.synth import read_frame
from tests.daemon_proc import (
    CLIP,
    daemon_config,
    log_events,
    start_daemon,
    wait_logged,
    write_config,
)
from tests.mqtt_fixtures import Broker, Collector

pytestmark = pytest.mark.mqtt
STOP = "k1"


def scene_folder(folder: Path, cycles: int = 20) -> Path:
    """Someone there for 1.5 s, then nobody for 1.5 s, ``cycles`` times, at 10 frames a second
    (pictures from the shared clip, written at run time)."""
    frames = {name: read_frame(CLIP, t) for name, t in (("empty", 2.0), ("person", 13.0))}
    folder.mkdir()
    n = 0
    for _ in range(cycles):
        for name in ("empty", "person"):
            for _ in range(15):
                cv2.imwrite(str(folder / f"{n:05d}.jpg"), frames[name])
                n += 1
    return folder


def outbox_state(path: Path) -> tuple[str, int, int]:
    """(quick_check, last seq handed out, events left) of the dead daemon's outbox."""
    db = sqlite3.connect(path)
    try:
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if "sqlite_sequence" not in tables:  # killed before it numbered an event (a slow start)
            return check, 0, db.execute("SELECT COUNT(*) FROM events").fetchone()[0] \
                if "events" in tables else 0
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        left = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()
    return check, (row[0] if row else 0), left


def run_kills(tmp_path: Path, kills: int, seed: int) -> dict:
    rng = random.Random(seed)
    frames = scene_folder(tmp_path / "frames")
    broker = Broker(tmp_path, persistence=True)  # keeps the collector's session and queue
    broker.start()
    live = Collector(broker, (f"stopsafe/{STOP}/event",), session=True)
    doc = daemon_config(tmp_path, broker, stop_id=STOP,
                        camera={"source": str(frames), "fps": 5.0},
                        adaptive={"enabled": False}, waiting={"dwell_s": 0.5},
                        light={"hold_s": 0.5}, tracker={"confirm_hits": 1, "max_missed_s": 0.3},
                        detector={"wide": None, "night": None})
    conf = write_config(tmp_path, doc)
    outbox = tmp_path / f"{STOP}.sqlite"
    figures = {"kills": 0, "kills_with_broker_down": 0, "broker_stops": 0, "checks": []}
    logs: list[Path] = []
    try:
        for i in range(kills):
            log = tmp_path / f"daemon-{i}.log"
            logs.append(log)
            proc = start_daemon(conf, log)
            life = rng.uniform(1.0, 12.0)  # some during start-up, most while it runs
            flip_at = rng.uniform(0.5, life - 0.5) if rng.random() < 0.6 else None
            t0 = time.monotonic()
            if flip_at is not None:
                time.sleep(flip_at)
                if broker.proc is not None:
                    broker.stop()
                    figures["broker_stops"] += 1
                else:
                    broker.start()
            time.sleep(max(0.0, life - (time.monotonic() - t0)))
            assert proc.poll() is None, log.read_text()[-2000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            figures["kills"] += 1
            figures["kills_with_broker_down"] += broker.proc is None
            check, made, left = outbox_state(outbox)
            figures["checks"].append(check)
            assert check == "ok", f"outbox corrupt after kill {i + 1}: {check}"
        if broker.proc is None:
            broker.start()
        # a last run with the broker up delivers what the kills left behind, then stops cleanly
        log = tmp_path / "daemon-last.log"
        logs.append(log)
        proc = start_daemon(conf, log)
        wait_logged(log, "daemon_started", timeout=60, proc=proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, made, _ = outbox_state(outbox)
            got = {json.loads(m.payload)["seq"] for m in live.on(f"stopsafe/{STOP}/event")}
            if made and set(range(1, made + 1)) <= got:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        time.sleep(1.0)
    finally:
        live.close()
        broker.stop()
    check, made, left = outbox_state(outbox)
    assert check == "ok"
    events = [json.loads(m.payload) for m in live.on(f"stopsafe/{STOP}/event")]
    seqs = {e["seq"] for e in events}
    missing = sorted(set(range(1, made + 1)) - seqs)
    logged = sum(1 for lg in logs for e in log_events(lg)
                 if e.get("event") in ("light_on", "light_off") and e.get("reason") != "shutdown")
    figures["checks"] = sorted(set(figures["checks"]))
    figures.update(events_numbered=made, events_received=len(seqs),
                   received_with_repeats=len(events), missing=len(missing), left_in_outbox=left,
                   light_switches_logged=logged,
                   light_events_received=len({e["seq"] for e in events if e["kind"] == "light"
                                              and e["reason"] != "shutdown"}))
    print("KILL_FIGURES", json.dumps(figures))
    assert missing == [], f"events lost: {missing[:20]}"
    assert left == 0
    assert made >= kills, "too few events to prove anything"
    return figures


def test_kill_9_three_times_loses_no_event(shared, models_dir, tmp_path):
    figures = run_kills(tmp_path, kills=3, seed=3)  # a seed that stops the broker once
    assert figures["broker_stops"] >= 1 and figures["kills_with_broker_down"] >= 1


@pytest.mark.hostile
def test_kill_9_twenty_four_times_broker_up_and_down(shared, models_dir, tmp_path):
    figures = run_kills(tmp_path, kills=24, seed=24)
    assert figures["kills_with_broker_down"] >= 3 and figures["broker_stops"] >= 3
