"""Soak: a clip looped through the whole daemon (detector, decision, mock relay, MQTT) for a long
time at full speed, watching memory, descriptors and threads, and checking that every loop
switches the light at the same clip times.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psutil

from edge.config import Config
from edge.runtime.assembly import assemble, build_light
from edge.runtime.faults import FaultRegistry
from edge.runtime.frames import Frame
from edge.runtime.pipeline import Pipeline, StopRecord
from sim.runner import scenario_config
from sim.scenario import Scenario
from sim.stills import ClipSource

LOOP_GAP_S = 8.0  # the empty stop between loops: hold and coasting run out, the light goes off


class LoopingClip:
    """The scenario's clip again and again on one clock that keeps running. Between loops the
    stop stands empty for ``LOOP_GAP_S`` (the clip's first, empty picture), so each loop starts
    from a dark stop; ``on_loop`` is called as each new loop begins."""

    live = False

    def __init__(self, sc: Scenario, process_fps: float, until: float,
                 max_loops: int | None = None, on_loop: Any = None) -> None:
        self.sc, self.process_fps, self.until = sc, process_fps, until
        self.max_loops = max_loops
        self.on_loop = on_loop
        self.loop = 0
        self.offset = 0.0
        self._clip = self._open()
        self.duration_s = self._clip.duration_s
        self.fps = self._clip.fps
        self._empty: Any = None
        self._gap_t: float | None = None
        self.now = 0.0  # the time of the last frame read: the soak's clock

    @property
    def start_wall(self) -> datetime:
        return self._clip.start_wall

    def _open(self) -> ClipSource:
        return ClipSource(self.sc.clip_path, fps=self.sc.fps, process_fps=self.process_fps)

    def read(self) -> Frame | None:
        if self._gap_t is not None:
            return self._gap()
        frame = self._clip.read()
        if frame is None:
            self._clip.close()
            if time.monotonic() >= self.until or (
                    self.max_loops is not None and self.loop + 1 >= self.max_loops):
                return None
            self._gap_t = self.duration_s
            return self._gap()
        if self._empty is None:
            self._empty = frame.image
        frame.t += self.offset
        frame.wall = self._clip.start_wall + timedelta(seconds=frame.t)
        self.now = frame.t
        return frame

    def _gap(self) -> Frame | None:
        assert self._gap_t is not None
        if self._gap_t >= self.duration_s + LOOP_GAP_S:
            self._gap_t = None
            self.loop += 1
            self.offset += self.duration_s + LOOP_GAP_S
            self._clip = self._open()
            if self.on_loop is not None:
                self.on_loop()
            return self.read()
        t = self.offset + self._gap_t
        self._gap_t += 1.0 / self.process_fps
        self.now = t
        return Frame(self._empty, t, -1, wall=self._clip.start_wall + timedelta(seconds=t))

    def close(self) -> None:
        self._clip.close()


@dataclass
class SoakProbe:
    """A pipeline sink: the light's switches per loop, and the process's figures over time."""

    source: LoopingClip
    warmup_s: float = 60.0
    switches: dict[int, list[tuple[float, bool]]] = field(default_factory=dict)
    samples: list[dict[str, float]] = field(default_factory=list)
    _last: bool = False
    _t0: float = field(default_factory=time.monotonic)
    _next_sample: float = 0.0

    def on_record(self, r: StopRecord) -> None:
        on = bool(r.light_on)
        if r.frame is not None and on != self._last:  # the shutdown's light-off is not the clip's
            clip_t = round(r.t - self.source.offset, 3)
            self.switches.setdefault(self.source.loop, []).append((clip_t, on))
            self._last = on
        now = time.monotonic() - self._t0
        if now >= self._next_sample:
            self._next_sample = now + 5.0
            proc = psutil.Process()
            self.samples.append({"t_s": round(now, 1), "rss_mb": proc.memory_info().rss / 2**20,
                                 "fds": proc.num_fds(), "threads": threading.active_count(),
                                 "loop": self.source.loop})

    def close(self) -> None:
        pass


def soak(sc: Scenario, base: Config, minutes: float, warmup_s: float = 60.0,
         max_loops: int | None = None, sinks: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Loop until ``minutes`` have passed (each loop runs to its end) or ``max_loops``."""
    cfg = scenario_config(base, sc)
    from edge.mqtt.service import start_mqtt

    pipeline: Pipeline | None = None

    def new_loop() -> None:  # the adaptive rate's schedule starts afresh with each loop
        if pipeline is not None and pipeline.gate is not None:
            pipeline.gate.reset()

    source = LoopingClip(sc, cfg.camera.fps, time.monotonic() + minutes * 60.0, max_loops,
                         on_loop=new_loop)
    probe = SoakProbe(source, warmup_s)
    stop = assemble(cfg, source, light=build_light(cfg, pin_factory="mock"), sinks=[probe, *sinks],
                    mqtt=start_mqtt(cfg), faults=FaultRegistry(clock=lambda: source.now),
                    clock=lambda: source.now,
                    wall=lambda: source.start_wall + timedelta(seconds=source.now), start=0.0)
    pipeline = stop.pipeline
    mqtt = stop.mqtt
    t0 = time.monotonic()
    try:
        stop.run()
    finally:
        stop.close()
    wall = time.monotonic() - t0
    loops = source.loop + 1  # every loop runs to the clip's end
    # the last loop's trailing switch-off falls in a gap that is never played: compare the
    # switches within the clip
    timelines = [[sw for sw in probe.switches.get(k, []) if sw[0] < source.duration_s]
                 for k in range(loops)]
    after = [s for s in probe.samples if s["t_s"] >= warmup_s] or probe.samples
    first, last = after[0], after[-1]
    return {
        "name": sc.name,
        "minutes": round(wall / 60.0, 2),
        "loops": loops,
        "frames": pipeline.frames,
        "mqtt": mqtt is not None,
        "timelines_identical": bool(timelines) and all(t == timelines[0] for t in timelines),
        "switches_per_loop": len(timelines[0]) if timelines else 0,
        "rss_mb": {"after_warmup": round(first["rss_mb"], 1), "end": round(last["rss_mb"], 1),
                   "growth": round(last["rss_mb"] - first["rss_mb"], 2),
                   "peak": round(max(s["rss_mb"] for s in probe.samples), 1)},
        "fds": {"after_warmup": first["fds"], "end": last["fds"],
                "max": max(s["fds"] for s in after)},
        "threads": {"after_warmup": first["threads"], "end": last["threads"],
                    "max": max(s["threads"] for s in after)},
        "errors": dict(pipeline.errors),
    }
