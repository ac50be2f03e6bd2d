"""Issue 23: a stop that cannot start is not dark and not silent.

The real daemon (``stopsafe run``, real model, gpiozero's MockFactory as the relay) against a
real mosquitto, once per start-up failure: the model missing, its folder missing, a sha256
mismatch, a file LiteRT cannot load, a model that does not fit its back-end, the camera file
missing. Each daemon stays up, the relay goes to the fail-safe state (``on``) after
``failsafe.after_s``, ``faults/state`` names the fault and ``faults/detail`` says why (which file,
what is wrong, since when); putting the part right clears the fault without a restart. The six
run side by side (one broker), so the module takes about as long as one of them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_proc import (
    CLIP,
    daemon_config,
    log_events,
    start_daemon,
    wait_logged,
    write_config,
)
from tests.mqtt_fixtures import Collector

pytestmark = pytest.mark.mqtt

SSD = "ssd_mobilenet_v1_coco_quant.tflite"
YOLOX = "yolox_nano_fp16.tflite"
AFTER_S = 2.0


@dataclass
class Case:
    name: str
    fault: str
    problem: str | None  # detail.problem, for the model's faults
    says: str  # in detail.error
    fix: Any = None  # () -> None: puts the part right
    detector: dict[str, Any] = field(default_factory=dict)
    camera: dict[str, Any] = field(default_factory=dict)


def cases(tmp: Path, models_dir: Path) -> list[Case]:
    def folder(name: str) -> Path:
        d = tmp / name / "models"
        d.mkdir(parents=True)
        return d

    def put(src: Path, dst: Path) -> None:  # like `models fetch`: a whole file, renamed in
        part = dst.with_name("." + dst.name + ".part")
        shutil.copy(src, part)
        part.replace(dst)

    out = []
    d = folder("missing")
    out.append(Case("missing", "model_failed", "missing", f"{d / SSD} is missing",
                    lambda d=d: put(models_dir / SSD, d / SSD), {"models_dir": str(d)}))
    d = tmp / "nofolder" / "models"
    out.append(Case("nofolder", "model_failed", "folder_missing",
                    f"models folder {d} does not exist",
                    lambda d=d: (d.mkdir(parents=True), put(models_dir / SSD, d / SSD)),
                    {"models_dir": str(d)}))
    d = folder("sha")
    (d / SSD).write_bytes((models_dir / SSD).read_bytes()[:-1] + b"\x01")
    out.append(Case("sha", "model_failed", "sha_mismatch", "does not match its sha256",
                    lambda d=d: put(models_dir / SSD, d / SSD), {"models_dir": str(d)}))
    d = folder("corrupt")
    (d / SSD).write_bytes((models_dir / SSD).read_bytes()[:50_000])  # a fetch cut short
    out.append(Case("corrupt", "model_failed", "unreadable", "cannot be loaded for the 'ssd'",
                    lambda d=d: put(models_dir / SSD, d / SSD),
                    {"models_dir": str(d), "verify_hash": False}))
    d = folder("backend")
    shutil.copy(models_dir / YOLOX, d / YOLOX)
    out.append(Case("backend", "model_failed", "wrong_backend", "does not fit the 'ssd'",
                    lambda d=d: put(models_dir / SSD, d / YOLOX),
                    {"models_dir": str(d), "model": YOLOX, "verify_hash": False}))
    cam = tmp / "camera" / "cam.mp4"
    cam.parent.mkdir()
    out.append(Case("camera", "camera_lost", None, f"camera source {cam} does not exist",
                    lambda cam=cam: put(CLIP, cam), {"models_dir": str(models_dir)},
                    {"source": str(cam)}))
    return out


def retained(col: Collector, topic: str) -> str | None:
    got = col.on(topic)
    return got[-1].text if got else None


def test_every_start_up_failure_runs_into_the_failsafe_and_recovers_without_a_restart(
        shared, models_dir, tmp_path, broker):
    todo = cases(tmp_path, models_dir)
    col = Collector(broker, ("stopsafe/#",))
    procs: dict[str, tuple[subprocess.Popen, Path, float]] = {}
    figures: dict[str, dict[str, float]] = {}
    try:
        for c in todo:
            (tmp_path / c.name).mkdir(exist_ok=True)
            doc = daemon_config(
                tmp_path / c.name, broker, stop_id=c.name,
                detector={"wide": None, "night": None, **c.detector}, camera=c.camera,
                failsafe={"fail_state": "on", "after_s": AFTER_S, "retry_min_s": 0.3,
                          "retry_max_s": 1.0})
            conf = write_config(tmp_path / c.name, doc)
            log = tmp_path / c.name / "daemon.log"
            procs[c.name] = (start_daemon(conf, log), log, time.monotonic())
        for c in todo:
            proc, log, t0 = procs[c.name]
            root = f"stopsafe/{c.name}"
            # the fault, named, with its reason
            raised = col.wait_for(lambda m, r=root, c=c: m.topic == f"{r}/faults/state"
                                  and c.fault in json.loads(m.payload), timeout=40)
            detail = json.loads(col.wait_for(
                lambda m, r=root, c=c: m.topic == f"{r}/faults/detail"
                and c.fault in json.loads(m.payload), timeout=10).payload)[c.fault]
            assert c.says in detail["error"], detail
            assert detail["since"].endswith("+00:00"), detail
            if c.problem is not None:
                assert detail["problem"] == c.problem, detail
                assert detail["file"].endswith((SSD, YOLOX)), detail
            # the relay in its fail-safe state, after_s after the start (light/state is the
            # mock pin read back), and the process still up
            on = col.wait_for(lambda m, r=root: m.topic == f"{r}/light/state"
                              and m.text == "ON", timeout=30)
            assert on.at - t0 >= AFTER_S, (c.name, on.at - t0)
            figures[c.name] = {"fault_s": round(raised.at - t0, 2),
                               "failsafe_on_s": round(on.at - t0, 2)}
            assert proc.poll() is None, log.read_text()[-2000:]
            assert any(e.get("event") == "light_on" and e.get("reason") == "failsafe"
                       for e in log_events(log)), c.name
        fixed_at, mark = time.monotonic(), col.mark()
        for c in todo:
            c.fix()
        for c in todo:
            proc, log, _ = procs[c.name]
            root = f"stopsafe/{c.name}"
            cleared = col.wait_for(lambda m, r=root, c=c: m.topic == f"{r}/faults/state"
                                   and c.fault not in json.loads(m.payload)
                                   and "camera_stale" not in json.loads(m.payload), timeout=40,
                                   after=mark)
            figures[c.name]["cleared_after_fix_s"] = round(cleared.at - fixed_at, 2)
            col.wait_for(lambda m, r=root, c=c: m.topic == f"{r}/faults/detail"
                         and c.fault not in json.loads(m.payload), timeout=5, after=mark)
            assert proc.poll() is None, f"{c.name} restarted: " + log.read_text()[-2000:]
            events = [e.get("event") for e in log_events(log)]
            assert events.count("daemon_starting") == 1 and "part_ready" in events, c.name
            assert retained(col, f"{root}/status") == "online"
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {name: p.wait(timeout=30) for name, (p, _, _) in procs.items()}
        col.close()
    print("STARTUP_FIGURES", json.dumps(figures))
    assert set(codes.values()) == {0}, codes


def test_an_unreadable_mqtt_password_file_leaves_the_light_running_until_it_is_there(
        shared, models_dir, tmp_path, broker):
    """The broker's password file is missing at start (anonymous broker, so any password
    does): the stop runs and lights without MQTT, with ``mqtt_unusable``; once the file is
    there the service starts without a restart, says ``started`` and its faults."""
    pw = tmp_path / "mqtt.pw"
    doc = daemon_config(tmp_path, broker, stop_id="pw", detector={"wide": None, "night": None},
                        failsafe={"retry_min_s": 0.3, "retry_max_s": 1.0})
    doc["mqtt"]["password_file"] = str(pw)
    conf = write_config(tmp_path, doc)
    col = Collector(broker, ("stopsafe/pw/#",))
    log = tmp_path / "daemon.log"
    proc = start_daemon(conf, log)
    try:
        raised = wait_logged(log, "fault_raised", timeout=60, proc=proc)
        assert raised["fault"] == "mqtt_unusable" and str(pw) in raised["error"], raised
        wait_logged(log, "systemd_ready", timeout=60, proc=proc)  # the loop runs meanwhile
        assert col.messages == []
        pw.write_text("anything\n")
        pw.chmod(0o600)
        col.wait_for(lambda m: m.topic == "stopsafe/pw/status" and m.text == "online",
                     timeout=30)
        started = col.wait_for(lambda m: m.topic == "stopsafe/pw/event"
                               and json.loads(m.payload)["kind"] == "started")
        assert json.loads(started.payload)["previous_end"] == "first"
        faults = col.wait_for(lambda m: m.topic == "stopsafe/pw/faults/state")
        assert "mqtt_unusable" not in json.loads(faults.payload)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        col.close()
    assert code == 0
