"""A stop with the daemon's real pipeline, decision core, mock relay and MQTT service, fed by a
scripted scene instead of a camera and a detector (fast, and every frame is known)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from actuators.light import RelayLight, make_pin_factory
from detector.base import Detection, DetectorResult
from edge.config import Config, parse_config
from edge.decision.core import CoreSettings, DecisionCore
from edge.mqtt.service import MqttService, bind_pipeline
from edge.runtime.frames import Frame
from edge.runtime.pipeline import FrameRecord, Pipeline
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

    def on_frame(self, r: FrameRecord) -> None:
        if r.decision.light.changed:
            self.switches.append((round(r.frame.t, 3), bool(r.light_on)))

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
                 config_path: Path | None = None, fps: float = 20.0,
                 core: DecisionCore | None = None) -> None:
        self.cfg = cfg
        self.source = ScriptSource(scene, fps)
        self.timeline = Timeline()
        self.service = MqttService(cfg, config_path=config_path, seed=1)
        core = core or DecisionCore(CoreSettings(zone=cfg.zone.polygon, dwell_s=0.3, hold_s=0.3,
                                                 confirm_hits=1, max_missed_s=0.2))
        light = RelayLight(17, pin_factory=make_pin_factory("mock"))

        def detect(_image: Any) -> DetectorResult:
            return DetectorResult(self.source.scene(self.source.t))

        self.pipeline = Pipeline(self.source, detect, core, light,
                                 [self.timeline, self.service])
        loader = None
        if config_path is not None:
            from edge.config import load_config

            loader = lambda: load_config(config_path)  # noqa: E731
        bind_pipeline(self.service, self.pipeline, cfg, loader)
        self.thread = threading.Thread(target=self.pipeline.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.pipeline.stop_event.set()
        self.thread.join(timeout=5)
        self.pipeline.shutdown()
