"""The frame loop: camera -> detector -> decision core -> light, then the sinks.

It only wires the parts together and times each stage; it does not know whether a part is real or
simulated. Sinks (the simulator's recorder, the MQTT publisher, systemd's notifier) see every
frame's record and never feed anything back into the decision.

Given a :class:`FailSafe`, the loop survives a lost camera (``CameraError``) and a failing model:
it keeps trying, raises the ``camera_lost``/``model_failed`` faults, drives the light per
``fail_state`` once it has been blind for ``after_s``, and lets the decision core take over again
with the first good frame. Sinks then get ``on_health`` instead of ``on_frame`` (no frame, no
record, and so no watchdog ping). Without a FailSafe (the simulator) those errors propagate.
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
from edge.decision.core import Decision, DecisionCore
from edge.decision.light_rules import FailSafe, LightMode, LightReason
from edge.decision.schedule import in_service
from edge.runtime.faults import PICTURE_FAULTS, Fault, FaultRegistry
from edge.runtime.frames import CameraError, Frame, FrameSource

if TYPE_CHECKING:
    from actuators.feedback import LampFeedback
    from edge.runtime.picture_health import CameraHealth

log = structlog.get_logger("stopsafe.pipeline")


class DetectorFailed(RuntimeError):
    """The detector raised on a frame (the original exception is the cause)."""


@dataclass(slots=True)
class FrameRecord:
    frame: Frame
    detections: list[Detection]
    decision: Decision
    light_on: bool  # read back from the pin
    invokes: int
    times_ms: dict[str, float] = field(default_factory=dict)
    detected: bool = True  # False when the adaptive rate skipped the detector on this frame
    faults: frozenset[Fault] = frozenset()  # active when the frame was done


@dataclass(frozen=True, slots=True)
class HealthState:
    """Handed to sinks' optional ``on_health`` when a frame could not be processed."""

    cause: Fault  # camera_lost or model_failed
    error: str
    blind_s: float
    failsafe: bool  # the fail-safe drives the light
    light_on: bool


class Sink(Protocol):
    def on_frame(self, record: FrameRecord) -> None: ...

    def close(self) -> None: ...


DetectFn = Callable[[Any], DetectorResult]


class FrameGate(Protocol):
    """Whether the detector runs on a frame (the adaptive rate); None means every frame."""

    def should_detect(self, frame: Frame, last: Decision | None, core: DecisionCore) -> bool: ...

    def observed(self, result: DetectorResult) -> None: ...

    def reset(self) -> None: ...


class Pipeline:
    def __init__(
        self, source: FrameSource, detect: DetectFn, core: DecisionCore, light: Light,
        sinks: Sequence[Sink] = (), gate: FrameGate | None = None, *,
        failsafe: FailSafe | None = None, feedback: LampFeedback | None = None,
        faults: FaultRegistry | None = None, clock: Callable[[], float] = time.monotonic,
        health: CameraHealth | None = None, wall: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.source = source
        self.detect = detect
        self.core = core
        self.light = light
        self.sinks = list(sinks)
        self.failsafe = failsafe
        self.feedback = feedback
        self.faults = faults if faults is not None else FaultRegistry()
        self.clock = clock  # for health (fail-safe, lamp feedback), never for the decision
        self.wall = wall  # local time for the schedule while blind (the clip's in the simulator)
        self.health = health
        self.errors: Counter[str] = Counter()  # exceptions caught per stage, for telemetry
        self._last_good_t: float | None = None  # frame time of the last frame decided on
        self._blind_since_t: float | None = None  # frame time since which nothing was seen
        self.stage = "start"  # what the loop is doing now, for the stage watchdog
        self.stage_since = time.monotonic()
        self.stop_event = threading.Event()
        self.gate = gate
        self.last: Decision | None = None
        self.frames = 0
        self.blind_cycles = 0
        self.light_applied = False  # the relay starts off until the first decision
        self._pending_mode: tuple[LightMode, float | None] | None = None
        self._calls: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._lock = threading.Lock()

    def request_mode(self, mode: LightMode, for_s: float | None = None) -> None:
        """Manual override from another thread (MQTT); applied before the next decision."""
        with self._lock:
            self._pending_mode = (mode, for_s)

    def _take_pending(self, now: float) -> None:
        with self._lock:
            pending, self._pending_mode = self._pending_mode, None
        if pending is not None:
            self.core.rules.set_mode(pending[0], now, pending[1])

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
        """Process one frame; None when the source has ended.

        Raises ``CameraError`` when no frame came and ``DetectorFailed`` when the detector raised.
        """
        if self._calls:
            self._run_calls()
        self._enter("read")
        frame = self.source.read()
        if frame is None:
            return None
        t0 = time.perf_counter()
        self._enter("health")
        picture_bad = self._check_picture(frame)  # a picture fault: the fail-safe decides
        unusable = picture_bad or (self.health is not None and self.health.unusable)
        self._enter("gate")
        model_failing = Fault.MODEL_FAILED in self.faults.active()
        run_detector = not unusable and (
            model_failing or self.gate is None
            or self.gate.should_detect(frame, self.last, self.core))
        t_gate = time.perf_counter()
        self._enter("detect")
        try:
            result = self.detect(frame.image) if run_detector else DetectorResult()
        except Exception as exc:
            raise DetectorFailed(f"{type(exc).__name__}: {exc}") from exc
        if run_detector and self.gate is not None:
            self.gate.observed(result)
        t_detect = time.perf_counter()
        self._enter("decide")
        self._take_pending(frame.t)
        if unusable:
            self._blind_since_t = frame.t if self._blind_since_t is None else self._blind_since_t
        elif self._blind_since_t is not None:
            self._resume(frame.t)
        if run_detector:
            self.core.observe(result.detections, frame.t)
        t_track = time.perf_counter()
        if unusable and self.last is not None:
            decision = self.last  # nothing seen: the decision (and its clocks) wait
        else:
            decision = self.core.decide(frame.t, frame.wall)
        t_decide = time.perf_counter()
        self.last = decision
        want, reason = decision.light.on, decision.light.reason.value
        if self.failsafe is not None:
            if picture_bad:  # frames come, but show nothing usable: the fail-safe decides
                fs = self.failsafe.update(self.clock(), ok=False, light_on=self.light_applied,
                                          in_service=decision.in_service, mode=decision.mode,
                                          immediate=True)
                if fs.changed:
                    log.warning("failsafe_engaged", cause="picture", light=fs.on,
                                fail_state=self.failsafe.fail_state.value)
                if fs.on is not None:
                    want, reason = fs.on, "failsafe"
            else:
                fs = self.failsafe.update(self.clock(), ok=True, light_on=self.light_applied)
                if fs.changed:
                    log.info("failsafe_released", light=decision.light.on)
            self.faults.clear(Fault.CAMERA_LOST)
            if run_detector:
                self.faults.clear(Fault.MODEL_FAILED)
        if not unusable:
            self._last_good_t = frame.t
        self._enter("light")
        # the relay follows the rules' state; after the fail-safe it may differ from it
        if want != self.light_applied:
            light_on = self.light.set(want)
            self.light_applied = want
            log.info(
                "light_on" if want else "light_off",
                reason=reason, waiting=decision.waiting,
                occupancy=decision.occupancy, mode=decision.mode.value, t=round(frame.t, 2),
            )
        else:
            light_on = self.light.read()
        if light_on != self.light_applied:
            self.faults.raise_(Fault.LIGHT_READBACK, wanted=self.light_applied, read=light_on)
        else:
            self.faults.clear(Fault.LIGHT_READBACK)
        self._check_lamp()
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
                             times, detected=run_detector,
                             faults=frozenset(self.faults.active()))
        self._enter("publish")
        for sink in self.sinks:
            try:
                sink.on_frame(record)
            except Exception:  # a publisher must never stop the light: log, count, go on
                self.errors["publish"] += 1
                log.exception("sink_failed", sink=type(sink).__name__, frame=frame.index)
        times["publish"] = (time.perf_counter() - t_light) * 1e3
        self.frames += 1
        self._enter("idle")
        return record

    def _resume(self, t: float) -> None:
        """The first usable frame after a blind spell: the decision's clocks skip the time it
        could not see, so a person who waited before it and is still there keeps waiting (and
        the light does not go dark for a new dwell), while one who left is dropped as usual."""
        if self._last_good_t is not None:
            self.core.shift(max(0.0, t - self._last_good_t))
        if self.gate is not None:
            self.gate.reset()
        self._blind_since_t = None

    def _enter(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.monotonic()

    def _check_picture(self, frame: Frame) -> bool:
        """Frozen, black or blurred picture: sync the faults; True while any is active."""
        if self.health is None:
            return False
        active = self.health.update(frame.image, frame.t)
        stats = self.health.last
        detail = {} if stats is None else {"mean": round(stats.mean, 1),
                                           "sharpness": round(stats.sharpness, 1)}
        for fault in PICTURE_FAULTS:
            if fault in active:
                self.faults.raise_(fault, **detail)
            else:
                self.faults.clear(fault)
        return bool(active)

    def _check_lamp(self) -> None:
        if self.feedback is not None:
            self.feedback.check(self.light_applied, self.clock())

    def blind(self, cause: Fault, error: str) -> HealthState:
        """One failed attempt (no frame, or the detector raised): faults, fail-safe, sinks."""
        assert self.failsafe is not None
        now = self.clock()
        self.blind_cycles += 1
        if self._blind_since_t is None:
            self._blind_since_t = self._last_good_t if self._last_good_t is not None else 0.0
        if self.faults.raise_(cause, error=error) and self.gate is not None:
            self.gate.reset()  # the scene it measured motion against is gone: look afresh
        self._take_pending(now)
        mode = self.core.rules.current_mode(now)
        service = in_service(self.core.settings.windows, self.wall())
        fs = self.failsafe.update(now, ok=False, light_on=self.light_applied,
                                  in_service=service, mode=mode)
        if fs.changed:
            log.warning("failsafe_engaged", cause=cause.value, fail_state=
                        self.failsafe.fail_state.value, blind_s=round(fs.blind_s, 1), light=fs.on)
        if fs.active and fs.on is not None and fs.on != self.light_applied:
            self.light.set(fs.on)
            self.light_applied = fs.on
            log.info("light_on" if fs.on else "light_off", reason="failsafe",
                     fail_state=self.failsafe.fail_state.value, mode=mode.value)
        self._check_lamp()
        health = HealthState(cause, error, fs.blind_s, fs.active, self.light_applied)
        for sink in self.sinks:
            on_health = getattr(sink, "on_health", None)
            if on_health is not None:
                try:
                    on_health(health)
                except Exception:
                    self.errors["publish"] += 1
                    log.exception("sink_failed", sink=type(sink).__name__)
        return health

    def run(self) -> int:
        """Loop until the source ends or ``stop_event`` is set; returns frames processed."""
        while not self.stop_event.is_set():
            try:
                if self.step() is None:
                    break
            except CameraError as exc:
                if self.failsafe is None:
                    raise
                self.blind(Fault.CAMERA_LOST, str(exc))
            except DetectorFailed as exc:
                if self.failsafe is None:
                    raise
                self.errors["detect"] += 1
                log.error("detect_failed", error=str(exc))
                self.blind(Fault.MODEL_FAILED, str(exc))
            except Exception:
                # anything else (decision core, relay) leaves no safe state to go on from:
                # say where, and let the process end non-zero so systemd restarts it
                self.errors[self.stage] += 1
                log.exception("pipeline_failed", stage=self.stage, frames=self.frames)
                raise
            else:
                continue
            # a source or model that fails at once must not spin: wait a frame's time (only
            # for a live source; a recorded clip's clock moves on by itself)
            if self.source.live:
                self.stop_event.wait(1.0 / max(getattr(self.source, "fps", 5.0), 1.0))
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
