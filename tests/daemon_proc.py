"""``stopsafe run`` as a real process for the hostile-world tests: the real model on the shared
one-by-one clip as its camera file, gpiozero's MockFactory for the relay, a real mosquitto."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import CLIPS, REPO

CLIP = CLIPS / "one-by-one" / "one-by-one-person-detection.mp4"


def daemon_config(tmp: Path, broker: Any | None, stop_id: str = "h1", **sections: Any
                  ) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "stop": {"id": stop_id},
        "camera": {"source": str(CLIP), "fps": 2.0},
        "logging": {"format": "json"},
    }
    if broker is not None:
        doc["mqtt"] = {"enabled": True, "host": broker.host, "port": broker.port,
                       "keepalive_s": 5, "telemetry_s": 1, "reconnect_min_s": 0.2,
                       "reconnect_max_s": 1.0, "discovery": False,
                       "outbox": {"path": str(tmp / f"{stop_id}.sqlite")}}
    for name, value in sections.items():
        doc.setdefault(name, {}).update(value)
    return doc


def write_config(tmp: Path, doc: dict[str, Any], name: str = "stop.yaml") -> Path:
    path = tmp / name
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    return path


def start_daemon(config: Path, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "-c", str(config), *args], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=open(log, "w"),
        env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"})


def log_events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def wait_logged(log: Path, event: str, timeout: float = 60.0, after: int = 0,
                proc: subprocess.Popen | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in log_events(log)[after:]:
            if e.get("event") == event:
                return e
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    raise AssertionError(f"{event!r} not logged within {timeout} s; log ends:\n{tail}")
