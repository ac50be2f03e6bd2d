"""A stop with the daemon's real pipeline, decision core, mock relay and MQTT service, fed by a
scripted scene instead of a camera and a detector (fast, and every frame is known)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from detector.base import Detection, DetectorResult
from edge.config import Config, parse_config
from edge.mqtt.service import MqttService
from edge.runtime.frames import Frame
from edge.runtime.pipeline import StopRecord
from sim.scripted import scripted_stop
from tests.helpers import person


class ScriptSource:
    """Frames at ``fps`` of the wall clock, t counted from 0; ``scene(t)`` says who is there."""

    live = True

    def __init__(self, scene: Callable[[float], list[Detection]], fps: float = 20.0) -> None:
        self.scene = scene
        self.fps = fps
        self.n = 0
        self.t = 0.0
        self.image = np.zeros((48, 64, 3), np.uint8)
        self.closed = False

    def read(self) -> Frame | None:
        if self.closed:
            return None
        time.sleep(1.0 / self.fps)
        self.t = self.n / self.fps
        self.n += 1
        return Frame(self.image, self.t, self.n, wall=None)

    def close(self) -> None:
        self.closed = True


class Timeline:
    """A sink that keeps (t, light_on) at every switch, as the pipeline saw it."""

    def __init__(self) -> None:
        self.switches: list[tuple[float, bool]] = []

    def on_record(self, r: StopRecord) -> None:
        if r.switched:
            self.switches.append((round(r.t, 3), bool(r.light_on)))

    def close(self) -> None:
        pass


def someone_between(a: float, b: float) -> Callable[[float], list[Detection]]:
    return lambda t: [person(0.5, 0.8)] if a <= t < b else []


def stop_config(broker: Any, tmp: Path, **mqtt: Any) -> Config:
    m = {"enabled": True, "host": broker.host, "port": broker.port, "keepalive_s": 5,
         "telemetry_s": 60, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
         "outbox": {"path": str(tmp / "outbox.sqlite")}}
    m.update(mqtt)
    extra = m.pop("_extra", {})
    return parse_config({"stop": {"id": "t1", "name": "Test stop"}, "mqtt": m, **extra})


class Stop:
    """Service + pipeline in a thread; ``close()`` is the daemon's clean exit."""

    def __init__(self, cfg: Config, scene: Callable[[float], list[Detection]],
                 config_path: Path | None = None, fps: float = 20.0) -> None:
        # a fast scripted scene: short dwell and hold, one hit confirms
        cfg = cfg.model_copy(update={
            "waiting": cfg.waiting.model_copy(update={"dwell_s": 0.3}),
            "light": cfg.light.model_copy(update={"hold_s": 0.3, "min_on_s": 0.0}),
            "tracker": cfg.tracker.model_copy(update={"confirm_hits": 1, "max_missed_s": 0.2})})
        self.cfg = cfg
        self.source = ScriptSource(scene, fps)
        self.timeline = Timeline()
        self.service = MqttService(cfg, config_path=config_path, seed=1)

        def detect(_image: Any) -> DetectorResult:
            return DetectorResult(self.source.scene(self.source.t))

        loader = None
        if config_path is not None:
            from edge.config import load_config

            loader = lambda: load_config(config_path)  # noqa: E731
        self.stop = scripted_stop(cfg, self.source, detect, lambda: self.source.t,
                                  sinks=[self.timeline], mqtt=self.service, loader=loader)
        self.pipeline = self.stop.pipeline
        self.thread = threading.Thread(target=self.pipeline.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.pipeline.stop_event.set()
        self.thread.join(timeout=5)
        self.stop.close()
