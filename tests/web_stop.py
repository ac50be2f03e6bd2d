"""A stop with its page, in this process: the real pipeline (real model, the shared clip played
at a multiple of real time, gpiozero's MockFactory as the relay) in a thread, the real server on
127.0.0.1 (a free port), and the daemon's reload path (``PipelineControl.reload`` re-reading
the config file)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import yaml

from edge.config import load_config
from edge.mqtt.control import PipelineControl
from edge.mqtt.service import start_mqtt
from edge.runtime.assembly import Stop, assemble
from edge.runtime.faults import FaultRegistry
from edge.runtime.pipeline import StopRecord
from edge.web.server import WebServer, start_web
from edge.web.view import LiveView, Parts
from sim.injection import FaultPlan, FaultSpec, FaultyCamera
from sim.pacing import PacedClip
from sim.stills import ClipSource
from tests.conftest import CLIPS, MODELS_DIR

ONE_BY_ONE = CLIPS / "one-by-one" / "one-by-one-person-detection.mp4"
EMPTY = CLIPS / "intel-carpark-empty" / "car-detection.mp4"


def stop_doc(clip: Path = ONE_BY_ONE, **sections: Any) -> dict[str, Any]:
    """A configured stop on ``clip`` with the page on loopback (a free port)."""
    doc: dict[str, Any] = {
        "stop": {"id": "web-test-1", "name": "Web test stop"},
        "camera": {"source": str(clip), "fps": 5.0},
        "detector": {"models_dir": str(MODELS_DIR)},
        "waiting": {"dwell_s": 2.0},
        "light": {"hold_s": 3.0, "min_on_s": 0.0, "pin_factory": "mock"},
        "web": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "mqtt": {"standalone": True},
    }
    for name, value in sections.items():
        doc.setdefault(name, {}).update(value)
    return doc


@dataclass
class Records:
    """Keeps (t, light, waiting) of every cycle for the test to judge."""

    rows: list[tuple[float, bool, int, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_record(self, r: StopRecord) -> None:
        with self.lock:
            self.rows.append((r.t, bool(r.light_on), r.state.waiting, r.frame is not None))

    def since(self, t: float) -> list[tuple[float, bool, int, bool]]:
        with self.lock:
            return [row for row in self.rows if row[0] >= t]

    def close(self) -> None:
        pass


@dataclass
class WebStop:
    stop: Stop
    view: LiveView
    server: WebServer
    config_path: Path
    records: Records
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def web_stop(tmp: Path, doc: dict[str, Any], *, speed: float = 4.0,
             faults: Sequence[FaultSpec] = ()) -> Iterator[WebStop]:
    path = tmp / "stop.yaml"
    path.write_text("# the installer's file\n" + yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    cfg = load_config(path)
    plan = FaultPlan(faults)
    source = FaultyCamera(PacedClip(ClipSource(Path(cfg.camera.source),
                                               process_fps=cfg.camera.fps), speed), plan)
    view = LiveView(cfg)
    records = Records()
    mqtt = start_mqtt(cfg, path)
    loader = lambda: load_config(path)  # noqa: E731 (the daemon's reload re-reads the file)
    stop = assemble(cfg, source, sinks=[view, records], mqtt=mqtt, loader=loader,
                    faults=FaultRegistry(clock=lambda: plan.now), clock=lambda: plan.now,
                    start=0.0, pin_factory="mock")
    control = (mqtt.control if mqtt is not None
               else PipelineControl(stop, loader, view.last_framed))
    view.bind(Parts(stop, control, path), mqtt)
    server = start_web(cfg.web, view)
    thread = threading.Thread(target=stop.run, name="frame-loop", daemon=True)
    thread.start()
    try:
        yield WebStop(stop, view, server, path, records, thread)
    finally:
        stop.pipeline.stop_event.set()
        thread.join(timeout=30)
        stop.close()
        server.close()


class Client:
    """A small HTTP client with a cookie jar (a browser's session, without the browser)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.csrf: str | None = None

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None
             ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with self.opener.open(req, timeout=20) as r:
                status, payload, kind = r.status, r.read(), r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, payload, kind = e.code, e.read(), e.headers.get("content-type", "")
        if "json" in kind:
            return status, json.loads(payload)
        return status, payload

    def session(self) -> str:
        status, body = self.call("GET", "/api/session")
        assert status == 200, body
        self.csrf = body["csrf"]
        return self.csrf

    def write(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(method, path, body, headers={"X-CSRF-Token": self.csrf or ""})
