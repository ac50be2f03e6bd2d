"""The frame loop: read, picture health, gate, detect, ``controller.tick``, relay, one record.

Every cycle takes the same path, whatever happened: a frame the detector ran on, a frame the
adaptive rate skipped, a picture that shows nothing, a camera that sent nothing, a detector that
raised. What the light should be is the controller's (``edge/decision/controller.py``); this loop
only finds out what could be seen, applies the controller's light to the relay, reads the pin
back, and hands one :class:`StopRecord` to every sink: the state, its events, what was applied
to the pin and what was read back, the active faults and the stage times. Sinks forward; they
never feed anything back into the decision and never work it out again.

Faults are facts about the edges (camera, model, picture, relay, lamp, and the MQTT link's own),
kept in one :class:`FaultRegistry`; every raise and clear reaches the sinks' ``on_fault`` from the
registry, once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from actuators.light import Light
from detector.base import Detection, DetectorResult
from edge.decision.controller import StopController, StopState, Tick, TickKind
from edge.decision.events import StopEvent
from edge.decision.feed import Snapshot
from edge.decision.light_rules import LightMode, LightPattern
from edge.runtime.faults import (
    FAULT_TICK,
    PICTURE_FAULTS,
    Fault,
    FaultEvent,
    FaultRegistry,
    FaultReport,
    lamp_faults,
)
from edge.runtime.frames import CameraError, Frame, FrameSource

if TYPE_CHECKING:
    from actuators.attention import Attention
    from actuators.feedback import LampFeedback
    from edge.runtime.picture_health import CameraHealth
    from edge.runtime.static_file import StaticPlacesFile

log = structlog.get_logger("stopsafe.pipeline")


@dataclass(slots=True)
class StopRecord:
    """One cycle of the loop, as every sink sees it."""

    t: float  # the controller's time of this cycle
    kind: TickKind
    state: StopState
    events: tuple[StopEvent, ...]  # made by the controller in this cycle, each once
    light_set: bool  # what the relay was told (the state's light)
    light_on: bool  # read back from the pin
    switched: bool  # the relay was switched in this cycle
    frame: Frame | None = None  # None when no frame came
    detections: list[Detection] = field(default_factory=list)
    invokes: int = 0
    times_ms: dict[str, float] = field(default_factory=dict)
    faults: frozenset[Fault] = frozenset()  # active when the cycle was done
    error: str | None = None  # why nothing could be seen (camera, detector)

    @property
    def detected(self) -> bool:
        """The detector ran on this cycle's frame."""
        return self.kind is TickKind.DETECTED


class Sink(Protocol):
    def on_record(self, record: StopRecord) -> None: ...

    def close(self) -> None: ...


class FaultSink(Protocol):
    """A sink that also wants each fault raise and clear (subscribed to the registry)."""

    def on_fault(self, event: FaultEvent) -> None: ...


DetectFn = Callable[[Any], DetectorResult]


class FrameGate(Protocol):
    """Whether the detector runs on a frame (the adaptive rate); None means every frame."""

    def should_detect(self, frame: Frame, state: StopState) -> bool: ...

    def observed(self, result: DetectorResult) -> None: ...

    def reset(self) -> None: ...


def fault_reporter(faults: FaultRegistry) -> FaultReport:
    """The one way into ``faults`` from outside the frame loop (``Pipeline.report_fault`` is
    this on its own registry): for a part built before the pipeline that is given ``faults``
    (a retried model or lamp input, the webhook). Any thread (the registry locks)."""
    return faults.set


class Pipeline:
    def __init__(
        self, source: FrameSource, detect: DetectFn, controller: StopController, light: Light,
        sinks: Sequence[Sink] = (), *, gate: FrameGate | None = None,
        faults: FaultRegistry | None = None, feedback: LampFeedback | None = None,
        health: CameraHealth | None = None, clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = datetime.now,
        upkeep: Sequence[Callable[[float], None]] = (), attention: Attention | None = None,
        static_file: StaticPlacesFile | None = None,
    ) -> None:
        self.source = source
        self.attention = attention  # the bus attention pattern's output, if any
        self.detect = detect
        self.controller = controller
        self.light = light
        self.sinks = list(sinks)
        self.gate = gate
        self.faults = faults if faults is not None else FaultRegistry()
        self.feedback = feedback
        self.health = health
        self.clock = clock  # the time of a cycle without a frame (the clip's in the simulator)
        self.wall = wall  # local time for the schedule without a frame
        self.static_file = static_file  # where the places found static are kept
        # parts retried from the loop (a model not there at start: ``edge.runtime.parts``)
        self.upkeep = list(upkeep)
        self.errors: Counter[str] = Counter()  # exceptions caught per stage, for telemetry
        self.stage = "start"  # what the loop is doing now, for the stage watchdog
        self.stage_since = time.monotonic()
        self.stop_event = threading.Event()
        self.frames = 0
        self.light_applied = False  # the relay starts off
        self._pending_mode: tuple[LightMode, float | None] | None = None
        self._pending_inputs: list[Callable[[float], None]] = []  # presses, feed snapshots
        self._calls: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._lock = threading.Lock()
        for sink in self.sinks:
            if hasattr(sink, "on_fault"):
                self.faults.subscribe(sink.on_fault)  # type: ignore[attr-defined]

    # ---------------- from other threads ----------------
    def report_fault(self, fault: Fault, active: bool, **detail: Any) -> bool:
        """A fault seen outside the frame loop (the maintenance link's outbox and
        ``camera_stale``, the arrivals feed, the button, the daemon's own), raised or cleared
        in the stop's registry, whose one writer is this pipeline; True when that changed the
        fault's state. Any thread (the registry locks)."""
        return self.faults.set(fault, active, **detail)

    def request_mode(self, mode: LightMode, for_s: float | None = None) -> None:
        """Manual override from another thread (MQTT); applied before the next tick."""
        with self._lock:
            self._pending_mode = (mode, for_s)

    def request_press(self, for_s: float) -> None:
        """The waiting button was pressed (gpiozero's thread); applied before the next tick."""
        with self._lock:
            self._pending_inputs.append(lambda t: self.controller.press(t, for_s))

    def request_release(self) -> None:
        """End the button's press (a stuck button); applied before the next tick."""
        with self._lock:
            self._pending_inputs.append(self.controller.release_press)

    def feed(self, snap: Snapshot) -> None:
        """An arrivals snapshot (the poller's thread); applied before the next tick."""
        with self._lock:
            self._pending_inputs.append(lambda t: self.controller.observe_feed(snap, t))

    def call_soon(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` in the frame thread before the next cycle (maintenance work that touches
        the relay, the detector or the controller, which are not thread-safe)."""
        future: Future[Any] = Future()
        with self._lock:
            self._calls.append((fn, future))
        return future

    # ---------------- the frame thread ----------------
    def reset(self) -> None:
        """Forget the scene (the simulator's unrelated stills): controller and gate start over."""
        self.controller.reset()
        if self.gate is not None:
            self.gate.reset()

    def cycle(self) -> StopRecord | None:
        """One pass of the loop; None when the source has ended."""
        if self._calls:
            self._run_calls()
        if self.upkeep:
            self._enter("upkeep")
            now = self.clock()
            for fn in self.upkeep:
                fn(now)
        self._enter("read")
        error: str | None = None
        try:
            frame = self.source.read()
        except CameraError as exc:
            frame, error = None, str(exc)
            if self.faults.raise_(Fault.CAMERA_LOST, error=error) and self.gate is not None:
                self.gate.reset()  # the scene it measured motion against is gone: look afresh
        else:
            if frame is None:
                return None
            self.faults.clear(Fault.CAMERA_LOST)
        t_read = time.perf_counter()
        result = DetectorResult()
        if frame is None:
            kind = FAULT_TICK[Fault.CAMERA_LOST]
        else:
            self._enter("health")
            kind = self._look(frame)
        t_gate = time.perf_counter()
        if frame is not None and kind is TickKind.DETECTED:
            self._enter("detect")
            try:
                result = self.detect(frame.image)
            except Exception as exc:  # logged once, by the registry, when the fault is raised
                error = f"{type(exc).__name__}: {exc}"
                kind = FAULT_TICK[Fault.MODEL_FAILED]
                self.errors["detect"] += 1
                self.faults.raise_(Fault.MODEL_FAILED, error=error)
            else:
                self.faults.clear(Fault.MODEL_FAILED)
                if self.gate is not None:
                    self.gate.observed(result)
        t_detect = time.perf_counter()
        self._enter("decide")
        t = frame.t if frame is not None else self.clock()
        self._take_pending(t)
        outcome = self.controller.tick(Tick(kind, t, frame.wall if frame is not None
                                            else self.wall(), result.detections, result.low,
                                            result.buses))
        if outcome.resumed and self.gate is not None:
            self.gate.reset()
        self._scene_faults(outcome.state)
        if self.static_file is not None and kind is TickKind.DETECTED:
            self.static_file.keep(self.controller.static_places())
        t_decide = time.perf_counter()
        self._enter("light")
        read_back, switched = self._apply(outcome.state)
        t_light = time.perf_counter()
        times = {
            # the source reports its own reading work (decoding, skipped frames), not its pacing
            "read": frame.read_ms if frame is not None else 0.0,
            "gate": (t_gate - t_read) * 1e3,  # picture health and the adaptive gate
            "preprocess": result.times.preprocess_ms,
            "invoke": result.times.invoke_ms,
            "decode": result.times.decode_ms,
            "decide": (t_decide - t_detect) * 1e3,
            "light": (t_light - t_decide) * 1e3,
        }
        times["frame"] = times["read"] + (t_light - t_read) * 1e3
        record = StopRecord(
            t=outcome.state.t, kind=kind, state=outcome.state, events=outcome.events,
            light_set=self.light_applied, light_on=read_back, switched=switched, frame=frame,
            detections=result.detections, invokes=result.times.invokes, times_ms=times,
            faults=frozenset(self.faults.active()), error=error)
        self._enter("publish")
        self._publish(record)
        times["publish"] = (time.perf_counter() - t_light) * 1e3
        if frame is not None:
            self.frames += 1
        self._enter("idle")
        return record

    def run(self) -> int:
        """Loop until the source ends or ``stop_event`` is set; returns frames processed."""
        while not self.stop_event.is_set():
            try:
                record = self.cycle()
            except Exception:
                # anything else (controller, relay) leaves no safe state to go on from: say
                # where, and let the process end non-zero so systemd restarts it
                self.errors[self.stage] += 1
                log.exception("pipeline_failed", stage=self.stage, frames=self.frames)
                raise
            if record is None:
                break
            # a source or model that fails at once must not spin: wait a frame's time (only
            # for a live source; a recorded clip's clock moves on by itself)
            if record.error is not None and self.source.live:
                self.stop_event.wait(1.0 / max(getattr(self.source, "fps", 5.0), 1.0))
        return self.frames

    def shutdown(self) -> None:
        """Light off first (reported to the sinks once), then release everything."""
        with self._lock:
            calls, self._calls = self._calls, []
        for _fn, future in calls:
            future.cancel()
        try:
            outcome = self.controller.shutdown(self.clock())
            read_back, switched = self._apply(outcome.state)
            self._publish(StopRecord(
                t=outcome.state.t, kind=TickKind.NO_FRAME, state=outcome.state,
                events=outcome.events, light_set=self.light_applied, light_on=read_back,
                switched=switched, faults=frozenset(self.faults.active())))
            self.light.close()
        finally:
            self.source.close()
            for sink in self.sinks:
                sink.close()

    # ---------------- inside ----------------
    def _look(self, frame: Frame) -> TickKind:
        """What this frame allows: a picture fault, a picture that shows nothing yet, a frame
        the adaptive rate skips, or one for the detector."""
        if self.health is not None:
            active = self.health.update(frame.image, frame.t)
            stats = self.health.last
            detail = {} if stats is None else {"mean": round(stats.mean, 1),
                                               "sharpness": round(stats.sharpness, 1)}
            for fault in PICTURE_FAULTS:
                self.faults.set(fault, fault in active, **(detail if fault in active else {}))
            if active:
                return FAULT_TICK[next(iter(active))]
            if self.health.unusable:
                return TickKind.UNUSABLE
        self._enter("gate")
        if (self.gate is None or self.faults.is_active(Fault.MODEL_FAILED)
                or self.gate.should_detect(frame, self.controller.state)):
            return TickKind.DETECTED
        return TickKind.SKIPPED

    def _apply(self, state: StopState) -> tuple[bool, bool]:
        """Switch the relay to the state's light when it differs; (read back, switched)."""
        want = state.light
        switched = want != self.light_applied
        if switched:
            read_back = self.light.set(want)
            self.light_applied = want
            log.info("light_on" if want else "light_off", reason=state.reason.value,
                     waiting=state.waiting, occupancy=state.occupancy, mode=state.mode.value,
                     t=round(state.t, 2))
        else:
            read_back = self.light.read()
        if self.attention is not None:
            self.attention.show(state.pattern is LightPattern.ATTENTION, want)
            if self.attention.blinking:  # the blink drives the pin: nothing to compare
                read_back = self.light_applied
        self.faults.set(Fault.LIGHT_READBACK, read_back != self.light_applied,
                        **({"wanted": self.light_applied, "read": read_back}
                           if read_back != self.light_applied else {}))
        if self.feedback is not None:
            check = self.feedback.check(self.light_applied, self.clock())
            if check is not None and check.changed:
                for fault, active in lamp_faults(check).items():
                    self.faults.set(fault, active, **self.feedback.detail)
        return read_back, switched

    def _scene_faults(self, state: StopState) -> None:
        """What the controller found in the scene that a person should look at: a static
        object in the zone (with its boxes), and light.max_on_s having cut the light."""
        self.faults.set(Fault.STATIC_OBJECT, bool(state.static_objects), **({"boxes": [
            [round(v, 3) for v in (b.x1, b.y1, b.x2, b.y2)] for b in state.static_objects]}
            if state.static_objects else {}))
        self.faults.set(Fault.LIGHT_MAX_ON, state.light_max_on)

    def _publish(self, record: StopRecord) -> None:
        for sink in self.sinks:
            try:
                sink.on_record(record)
            except Exception:  # a publisher must never stop the light: log, count, go on
                self.errors["publish"] += 1
                log.exception("sink_failed", sink=type(sink).__name__)

    def _take_pending(self, now: float) -> None:
        with self._lock:
            pending, self._pending_mode = self._pending_mode, None
            inputs, self._pending_inputs = self._pending_inputs, []
        if pending is not None:
            self.controller.set_mode(pending[0], now, pending[1])
        for apply in inputs:
            apply(now)

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

    def _enter(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.monotonic()
