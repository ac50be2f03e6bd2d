"""What the page shows, kept by a pipeline sink: the latest record (under a lock), the fps, the
metrics and the walk test. The frame thread only stores a reference and bumps counters; the
picture is pixelated and encoded in the server's thread, once per frame however many clients
ask, so a slow or busy client never holds up a cycle.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil

from edge.config import Config
from edge.install.walk import WalkTest
from edge.pictures import person_boxes, snapshot_jpeg
from edge.runtime.assembly import Stop
from edge.runtime.faults import BLIND_FAULTS, Fault, FaultEvent
from edge.runtime.pipeline import StopRecord
from edge.web.metrics import Cycle, StopMetrics

# faults that mean the light is not under the stop's control (it cannot see, or the relay and
# lamp do not do what they are told): /healthz answers 503 while one is active
UNCONTROLLED = (*BLIND_FAULTS, Fault.LIGHT_READBACK, Fault.LAMP_FAILED, Fault.LAMP_STUCK_ON)
FPS_WINDOW = 30  # frames the measured rate is taken over
CPU_EVERY_S = 1.0  # the process's CPU share is measured at most this often
BACKLOG = 4096  # queued cycles; the server drains them every DRAIN_S
DRAIN_S = 0.25


def _r(v: float) -> float:
    return round(float(v), 4)


def _box(b: Any) -> list[float]:
    return [_r(b.x1), _r(b.y1), _r(b.x2), _r(b.y2)]


@dataclass
class Parts:
    """The running stop the page reads (bound once it is assembled). Its pipeline, detector and
    gate are asked for each time: a reload may replace them."""

    stop: Stop
    control: Any = None  # the commands' control: its config is the one in use
    config_path: Any = None  # the file a saved zone is written to


class LiveView:
    """A pipeline sink (and fault sink) holding what the page and the endpoints need."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.metrics = StopMetrics(cfg.stop.id)
        self.walk = WalkTest()
        self.parts: Parts | None = None
        self.mqtt: Any = None  # the MQTT service, when the stop has one
        self._lock = threading.Lock()
        self._record: StopRecord | None = None
        self._framed: StopRecord | None = None  # the latest record with a frame
        self._at: float | None = None  # clock() when the latest record came
        self._frames: deque[float] = deque(maxlen=FPS_WINDOW)
        self._runs: deque[float] = deque(maxlen=FPS_WINDOW)
        self._jpeg_lock = threading.Lock()
        # cycles and fault events not yet counted; bounded (a server stalled for minutes loses
        # counts, never the frame loop's memory: no picture is queued)
        self._backlog: deque[Cycle | FaultEvent] = deque(maxlen=BACKLOG)
        self._drain_lock = threading.Lock()
        self._seq = 0  # records with a frame so far: the page asks for a picture when it moves
        self._jpeg: tuple[int, bytes] | None = None  # (seq of the record, its picture)
        self._proc = psutil.Process()
        self._cpu: tuple[float, float] = (0.0, -CPU_EVERY_S)

    def bind(self, parts: Parts, mqtt: Any = None) -> None:
        self.parts = parts
        self.mqtt = mqtt
        if mqtt is not None:
            self.metrics.bind_mqtt(mqtt)

    # ---------------- the frame thread ----------------
    def on_record(self, record: StopRecord) -> None:
        """Keep a reference to the record and queue its figures: no counting, no encoding here
        (``drain`` does that in the server's thread)."""
        self._backlog.append(Cycle.of(record))
        now = self.clock()
        with self._lock:
            self._record, self._at = record, now
            if record.frame is not None:
                self._framed = record
                self._seq += 1
                self._frames.append(now)
                if record.detected:
                    self._runs.append(now)

    def on_fault(self, event: FaultEvent) -> None:
        self._backlog.append(event)

    def close(self) -> None:
        self.drain()
        self.walk.close()

    # ---------------- the server's thread ----------------
    def drain(self) -> None:
        """Count the queued cycles and fault events into the metrics and the walk test, in
        order (the server's thread: every request that reads them, and a timer)."""
        with self._drain_lock:
            while True:
                try:
                    item = self._backlog.popleft()
                except IndexError:
                    return
                if isinstance(item, FaultEvent):
                    self.metrics.fault(item)
                else:
                    self.metrics.observe(item)
                    self.walk.on_record(item)

    def latest(self) -> tuple[StopRecord | None, StopRecord | None, float | None]:
        with self._lock:
            return self._record, self._framed, self._at

    def _framed_seq(self) -> tuple[StopRecord | None, int]:
        with self._lock:
            return self._framed, self._seq

    def last_framed(self) -> StopRecord | None:
        """The latest record with a frame (the self-test runs the model on it)."""
        return self.latest()[1]

    def jpeg(self) -> bytes | None:
        """The latest frame, every person pixelated (the maintenance snapshot's pixelation
        and size), encoded once per frame."""
        framed, seq = self._framed_seq()
        if framed is None or framed.frame is None:
            return None
        with self._jpeg_lock:
            if self._jpeg is None or self._jpeg[0] != seq:
                boxes = person_boxes(framed.detections, framed.state.people)
                self._jpeg = (seq, snapshot_jpeg(framed.frame.image, boxes))
            return self._jpeg[1]

    def _rate(self, times: deque[float]) -> float:
        with self._lock:
            ts = list(times)
        if len(ts) < 2 or ts[-1] <= ts[0]:
            return 0.0
        return (len(ts) - 1) / (ts[-1] - ts[0])

    def cpu_percent(self) -> float:
        """This process's CPU use (100 = one core), measured at most once a second."""
        value, at = self._cpu
        now = time.monotonic()
        if now - at >= CPU_EVERY_S:
            value = self._proc.cpu_percent(None)
            self._cpu = (value, now)
        return value

    def health(self) -> tuple[bool, list[str]]:
        """(ok, reasons): the frame loop is alive and the light is under the stop's control."""
        record, _, at = self.latest()
        if record is None or at is None:
            return False, ["the frame loop has not finished a cycle yet"]
        reasons = []
        age = self.clock() - at
        limit = self.cfg.web.loop_stale_s
        if age > limit:
            reasons.append(f"the frame loop has not finished a cycle for {age:.1f} s "
                           f"(web.loop_stale_s {limit:g})")
        for fault in sorted(record.faults & set(UNCONTROLLED), key=lambda f: f.value):
            reasons.append(f"fault {fault.value}")
        if record.state.failsafe:
            reasons.append(f"the fail-safe drives the light (blind for "
                           f"{record.state.blind_s:.1f} s)")
        return not reasons, reasons

    def state(self) -> dict[str, Any]:
        """The stop as the page shows it (``GET /api/state``)."""
        self.drain()
        record, _, at = self.latest()
        framed, seq = self._framed_seq()
        parts = self.parts
        cfg = parts.control.cfg if parts is not None and parts.control is not None else self.cfg
        ok, reasons = self.health()
        out: dict[str, Any] = {
            "stop": {"id": cfg.stop.id, "name": cfg.stop.name},
            "time": datetime.now().astimezone().isoformat(timespec="seconds"),
            "health": {"ok": ok, "reasons": reasons},
            "model": {"name": cfg.detector.model, "backend": cfg.detector.backend.value},
            "fps": round(self._rate(self._frames), 2),
            "detector_fps": round(self._rate(self._runs), 2),
            "cpu_percent": round(self.cpu_percent(), 1),
            "config": {"polygon": [list(p) for p in cfg.zone.polygon],
                       "masks": [[list(p) for p in m] for m in cfg.zone.masks],
                       "writable": parts is not None and parts.config_path is not None},
            "walk": self.walk.result().as_json(),
            "mqtt": {"enabled": self.mqtt is not None,
                     "connected": bool(self.mqtt is not None and self.mqtt.link.connected)},
        }
        if parts is not None:
            pipeline, detector = parts.stop.pipeline, parts.stop.detector
            core = pipeline.controller.settings.core
            gate = pipeline.gate
            out["zone_in_use"] = {
                "controller": [list(p) for p in core.zone],
                "masks": [[list(p) for p in m] for m in core.masks],
                "crop": (list(detector.zone_bounds)
                         if getattr(detector, "zone_bounds", None) is not None else None),
                "gate": list(gate.motion.region) if gate is not None else None,
            }
            out["adaptive"] = {"enabled": gate is not None,
                               "rate": gate.state.value if gate is not None else "full"}
        if record is not None:
            s = record.state
            out.update({
                "light": {"wanted": s.light, "read_back": bool(record.light_on),
                          "reason": s.reason.value, "mode": s.mode.value},
                "waiting": s.waiting, "occupancy": s.occupancy, "in_service": s.in_service,
                "seeing": s.seeing, "failsafe": s.failsafe, "blind_s": round(s.blind_s, 1),
                "faults": sorted(f.value for f in record.faults),
                "age_s": round(self.clock() - at, 2) if at is not None else None,
                "times_ms": {k: round(v, 2) for k, v in record.times_ms.items()},
                "detector_ran": record.detected,
            })
        if framed is not None and framed.frame is not None:
            h, w = framed.frame.image.shape[:2]
            out["frame"] = {"width": w, "height": h, "index": framed.frame.index, "id": seq}
            out["detections"] = [{"box": _box(d), "score": round(d.score, 3)}
                                 for d in framed.detections]
            out["people"] = [{"id": p.id, "box": _box(p.box), "score": round(p.box.score, 3),
                              "dwell_s": round(p.dwell_s, 1), "in_zone": p.in_zone,
                              "waiting": p.waiting, "static": p.static}
                             for p in framed.state.people]
        return out
