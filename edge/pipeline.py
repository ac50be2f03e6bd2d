"""The frame loop: camera -> detector -> decision core -> light, then the sinks.

It only wires the parts together and times each stage; it does not know whether a part is real or
simulated. Sinks (the simulator's recorder, the MQTT publisher, systemd's notifier) see every
frame's record and never feed anything back into the decision.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from actuators.light import Light
from detector.base import Detection, DetectorResult
from edge.decision.core import Decision, DecisionCore
from edge.decision.light_rules import LightMode, LightReason
from edge.frames import Frame, FrameSource

log = structlog.get_logger("stopsafe.pipeline")


@dataclass(slots=True)
class FrameRecord:
    frame: Frame
    detections: list[Detection]
    decision: Decision
    light_on: bool  # read back from the pin
    invokes: int
    times_ms: dict[str, float] = field(default_factory=dict)
    detected: bool = True  # False when the adaptive rate skipped the detector on this frame


class Sink(Protocol):
    def on_frame(self, record: FrameRecord) -> None: ...

    def close(self) -> None: ...


DetectFn = Callable[[Any], DetectorResult]


class FrameGate(Protocol):
    """Whether the detector runs on a frame (the adaptive rate); None means every frame."""

    def should_detect(self, frame: Frame, last: Decision | None, core: DecisionCore) -> bool: ...

    def reset(self) -> None: ...


class Pipeline:
    def __init__(
        self, source: FrameSource, detect: DetectFn, core: DecisionCore, light: Light,
        sinks: Sequence[Sink] = (), gate: FrameGate | None = None,
    ) -> None:
        self.source = source
        self.detect = detect
        self.core = core
        self.light = light
        self.sinks = list(sinks)
        self.stop_event = threading.Event()
        self.gate = gate
        self.last: Decision | None = None
        self.frames = 0
        self._pending_mode: tuple[LightMode, float | None] | None = None
        self._calls: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._lock = threading.Lock()

    def request_mode(self, mode: LightMode, for_s: float | None = None) -> None:
        """Manual override from another thread (MQTT); applied before the next decision."""
        with self._lock:
            self._pending_mode = (mode, for_s)

    def reset(self) -> None:
        """Forget the scene (the simulator's unrelated stills): core and gate start over."""
        self.core.reset()
        if self.gate is not None:
            self.gate.reset()
        self.last = None

    def call_soon(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` in the frame thread before the next frame (maintenance work that touches
        the relay or the detector, which are not thread-safe); its result comes in the future."""
        future: Future[Any] = Future()
        with self._lock:
            self._calls.append((fn, future))
        return future

    def _run_calls(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for fn, future in calls:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never raised here
                future.set_exception(exc)

    def step(self) -> FrameRecord | None:
        """Process one frame; None when the source has ended."""
        if self._calls:
            self._run_calls()
        frame = self.source.read()
        if frame is None:
            return None
        t0 = time.perf_counter()
        run_detector = self.gate is None or self.gate.should_detect(frame, self.last, self.core)
        t_gate = time.perf_counter()
        result = self.detect(frame.image) if run_detector else DetectorResult()
        t_detect = time.perf_counter()
        with self._lock:
            pending, self._pending_mode = self._pending_mode, None
        if pending is not None:
            self.core.rules.set_mode(pending[0], frame.t, pending[1])
        if run_detector:
            self.core.observe(result.detections, frame.t)
        t_track = time.perf_counter()
        decision = self.core.decide(frame.t, frame.wall)
        t_decide = time.perf_counter()
        self.last = decision
        if decision.light.changed:
            light_on = self.light.set(decision.light.on)
            log.info(
                "light_on" if decision.light.on else "light_off",
                reason=decision.light.reason.value, waiting=decision.waiting,
                occupancy=decision.occupancy, mode=decision.mode.value, t=round(frame.t, 2),
            )
        else:
            light_on = self.light.read()
        t_light = time.perf_counter()
        times = {
            # the source reports its own reading work (decoding, skipped frames), not its pacing
            "read": frame.read_ms,
            "gate": (t_gate - t0) * 1e3,
            "preprocess": result.times.preprocess_ms,
            "invoke": result.times.invoke_ms,
            "decode": result.times.decode_ms,
            "track": (t_track - t_detect) * 1e3,
            "decide": (t_decide - t_track) * 1e3,
            "light": (t_light - t_decide) * 1e3,
        }
        times["frame"] = frame.read_ms + (t_light - t0) * 1e3
        record = FrameRecord(frame, result.detections, decision, light_on, result.times.invokes,
                             times, detected=run_detector)
        for sink in self.sinks:
            sink.on_frame(record)
        times["publish"] = (time.perf_counter() - t_light) * 1e3
        self.frames += 1
        return record

    def run(self) -> int:
        """Loop until the source ends or ``stop_event`` is set; returns frames processed."""
        while not self.stop_event.is_set():
            if self.step() is None:
                break
        return self.frames

    def shutdown(self) -> None:
        """Light off first, then release everything."""
        with self._lock:
            calls, self._calls = self._calls, []
        for _fn, future in calls:
            future.cancel()
        try:
            if self.light.read():
                log.info("light_off", reason=LightReason.SHUTDOWN.value, waiting=None)
            self.light.close()
        finally:
            self.source.close()
            for sink in self.sinks:
                sink.close()
