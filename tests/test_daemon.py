"""``stopsafe run`` as a process: real detector, a recorded clip as the camera, mock relay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO


def test_run_lights_for_a_waiting_person_and_switches_off_on_sigterm(shared, models_dir,
                                                                     tmp_path):
    clip = shared / "clips/one-by-one/one-by-one-person-detection.mp4"
    cfg = tmp_path / "stop.yaml"
    cfg.write_text(f"camera:\n  source: {clip}\n  fps: 5\nlogging:\n  format: json\n"
                   "waiting:\n  dwell_s: 2.0\n")
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "-c", str(cfg)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the person walks in at about 6 s and stands: the light must be on by about 9-10 s
    deadline = time.monotonic() + 40
    lines: list[dict] = []
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    while time.monotonic() < deadline and not any(e.get("event") == "light_on" for e in lines):
        if sel.select(timeout=1):
            line = proc.stderr.readline()
            if line.startswith("{"):
                lines.append(json.loads(line))
    on = [e for e in lines if e.get("event") == "light_on"]
    assert on, lines
    assert on[0]["reason"] == "waiting" and on[0]["waiting"] == 1
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    events = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    names = [e["event"] for e in events]
    assert "signal" in names
    off = [e for e in events if e["event"] == "light_off"]
    assert off and off[-1]["reason"] == "shutdown"
    assert names[-1] == "daemon_stopped" and events[-1]["light"] == "off"
    assert out == ""  # logs never go to standard output
