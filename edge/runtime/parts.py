"""Parts of a stop that may be missing or broken when the daemon starts: the model, the camera,
the lamp input. They fail into the frame loop's one path instead of out of the process.

A part that cannot be had is a fault in the stop's registry with a reason a person can act on
(``error``: which file and what is wrong; the registry keeps since when). The loop goes on
blind, so the fail-safe light policy applies exactly as to a camera lost at run time, and the
part is tried again with a doubling back-off until it comes right (a model copied in, a camera
plugged in); then its fault clears by itself, without a restart. Nothing here sleeps or starts
a thread: the model and the lamp input are retried from the loop's upkeep, the camera from its
``read``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import structlog

from detector.base import DetectorResult
from detector.models import ModelError
from edge.runtime.faults import Fault, FaultReport
from edge.runtime.frames import CameraError, Frame, FrameSource

log = structlog.get_logger("stopsafe.parts")

T = TypeVar("T")


class Backoff:
    """When to try again: ``min_s`` after the first failure, doubling up to ``max_s``."""

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s, self.max_s = min_s, max(max_s, min_s)
        self.wait_s = min_s
        self.next_at = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float) -> float:
        """Schedule the next try; returns how long until it."""
        wait = self.wait_s
        self.next_at = now + wait
        self.wait_s = min(self.max_s, wait * 2)
        return wait


class PartDown(RuntimeError):
    """The part is not there (yet); ``str()`` is the reason."""


def describe(exc: BaseException) -> dict[str, Any]:
    """A failure as the fault's detail: ``error`` in words, and ``problem`` where it is known."""
    detail: dict[str, Any] = {"error": " ".join(str(exc).split())[:400] or type(exc).__name__}
    if isinstance(exc, ModelError):
        detail["problem"] = exc.problem.value
        if exc.path is not None:
            detail["file"] = str(exc.path)
    return detail


class RetryingPart(Generic[T]):
    """``make()`` until it works; while it does not, ``fault`` is active with the reason (when a
    fault is given: the camera's is the frame loop's own ``camera_lost``), reported through
    ``report`` (the stop's one fault writer); the part is the only one to report ``fault``, so
    it knows the reason it last gave."""

    def __init__(self, name: str, make: Callable[[], T], report: FaultReport,
                 backoff: Backoff, fault: Fault | None = None,
                 on_ready: Callable[[T], None] | None = None, where: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._make = make
        self.report = report
        self.fault = fault
        self.backoff = backoff
        self.on_ready = on_ready
        self.where = where  # the file or device, for the fault's detail
        self.clock = clock
        self.part: T | None = None
        self.reason: str | None = None
        self.attempts = 0
        self.closed = False  # closed (or replaced by a reload): never made again
        self._said: dict[str, Any] | None = None  # the detail of the fault as last raised

    def attempt(self, now: float | None = None) -> T | None:
        """The part, made now if it is missing and its next try is due; None while down."""
        if self.part is not None or self.closed:
            return self.part
        now = self.clock() if now is None else now
        if not self.backoff.due(now):
            return None
        self.attempts += 1
        try:
            part = self._make()
        except Exception as exc:
            self.failed(exc, now)
            return None
        self.part = part
        log.info("part_ready", part=self.name, attempts=self.attempts,
                 was=self.reason)
        self.reason = None
        if self.fault is not None:
            self.report(self.fault, False)
            self._said = None
        if self.on_ready is not None:
            self.on_ready(part)
        return part

    def failed(self, exc: Exception, now: float) -> None:
        """A try failed with ``exc`` (here, or the caller's own first one): the fault with
        its reason, and the next try scheduled."""
        detail = describe(exc)
        if self.where is not None:
            detail["file"] = self.where
        retry_in = self.backoff.failed(now)
        if detail["error"] != self.reason:  # said once per reason, not every try
            log.warning("part_unavailable", part=self.name, retry_in_s=round(retry_in, 1),
                        **detail)
        self.reason = detail["error"]
        self.down(detail)

    def down(self, detail: dict[str, Any]) -> None:
        """Raise the part's fault with ``detail`` (cleared first when what is wrong changed, so
        the new reason is said)."""
        if self.fault is None:
            return
        if self._said is not None and self._said != detail:
            self.report(self.fault, False)
        self.report(self.fault, True, **detail)
        self._said = detail

    def upkeep(self, now: float) -> None:
        self.attempt(now)

    def get(self) -> T:
        """The part, or :class:`PartDown` with why it is not there."""
        part = self.attempt()
        if part is None:
            raise PartDown(f"{self.name} unavailable: {self.reason}")
        return part

    def close(self) -> None:
        """Close the part, if made, and never make it again (closed, or replaced by a
        reload)."""
        self.closed = True
        if self.part is not None:
            self.part.close()


class RetryingDetector(RetryingPart[Any]):
    """The detector, built when its model is usable; ``detect`` raises :class:`PartDown` until
    then, which the frame loop treats like any failing detector (blind, ``model_failed``)."""

    def detect(self, image: Any) -> DetectorResult:
        return self.get().detect(image)

    @property
    def runtime(self) -> Any:
        return None if self.part is None else self.part.runtime

    @property
    def zone_bounds(self) -> Any:
        """The crop's zone, once there is a detector (the page shows it)."""
        return None if self.part is None else self.part.zone_bounds

    def set_zone(self, bounds: Any) -> None:
        """A zone reload: the detector's crop follows (one not built yet is built on the
        running config, which already has the new zone)."""
        if self.part is not None:
            self.part.set_zone(bounds)


class RetryingSource(RetryingPart[FrameSource]):
    """A camera that may not be there at start (a file not yet copied, a device not plugged
    in): ``read`` raises :class:`CameraError` with the reason until it opens, which the frame
    loop reports as ``camera_lost`` and treats as blind."""

    live = True

    def __init__(self, make: Callable[[], FrameSource], report: FaultReport,
                 backoff: Backoff, fps: float, where: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("camera", make, report, backoff, where=where, clock=clock)
        self.fps = fps  # the frame loop's pace while there is no camera

    def read(self) -> Frame | None:
        source = self.attempt()
        if source is None:
            raise CameraError(self.reason or "camera not open yet")
        return source.read()

    def ended_early(self) -> str | None:
        ended = getattr(self.part, "ended_early", None)
        return ended() if ended is not None else None


class RetryingFeedback(RetryingPart[Any]):
    """The lamp-current input; while it cannot be set up the light works unchecked
    (``lamp_input_failed``)."""

    def check(self, light_on: bool, now: float) -> Any:
        """The input's check (reported to the frame loop, which writes the lamp faults), or
        None while there is no input."""
        return None if self.part is None else self.part.check(light_on, now)

    @property
    def detail(self) -> dict[str, Any]:
        return {} if self.part is None else self.part.detail
