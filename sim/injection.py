"""Fault injection for scenarios: a camera that fails, freezes, goes black or blurs, a model that
raises, a relay whose read-back disagrees, a broker that goes away. Fakes for what cannot be
broken for real here; each wraps the real part and misbehaves only inside its time windows (on
the clip's own clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Annotated, Any, Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from detector.base import DetectorResult
from edge.runtime.frames import CameraError, Frame
from sim.stills import WrappedSource


class FaultKind(str, Enum):
    CAMERA_READ_ERROR = "camera_read_error"  # the camera delivers nothing
    CAMERA_FROZEN = "camera_frozen"  # the same picture again and again
    CAMERA_BLACK = "camera_black"  # lens covered
    CAMERA_BLUR = "camera_blur"  # smeared or fogged lens
    MODEL_ERROR = "model_error"  # the interpreter raises on invoke
    BROKER_DOWN = "broker_down"  # the MQTT broker is stopped, then started again
    RELAY_READBACK = "relay_readback"  # the relay reads back the opposite of what was set


class FaultSpec(BaseModel):
    """One injected fault: ``kind`` from ``at_s`` for ``for_s`` seconds of clip time."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    at_s: Annotated[float, Field(ge=0.0)]
    for_s: Annotated[float, Field(gt=0.0)]

    @property
    def until_s(self) -> float:
        return self.at_s + self.for_s

    def covers(self, t: float) -> bool:
        return self.at_s <= t < self.until_s


class BrokerControl(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class FaultPlan:
    """The scenario's faults, and the clip time the pipeline has reached (set by the camera,
    which also stops and starts the broker on time)."""

    def __init__(self, faults: Sequence[FaultSpec], broker: BrokerControl | None = None) -> None:
        self.faults = list(faults)
        self.now = 0.0
        self.broker = broker
        self._broker_down = False
        if broker is None and FaultKind.BROKER_DOWN in self.kinds():
            raise ValueError("broker_down faults need a broker the simulator runs itself "
                             "(stopsafe sim --own-broker)")

    def tick(self, t: float) -> None:
        self.now = t
        if self.broker is not None:
            down = self.active(FaultKind.BROKER_DOWN, t)
            if down != self._broker_down:
                (self.broker.stop if down else self.broker.start)()
                self._broker_down = down

    def active(self, kind: FaultKind, t: float | None = None) -> bool:
        t = self.now if t is None else t
        return any(f.kind is kind and f.covers(t) for f in self.faults)

    def kinds(self) -> set[FaultKind]:
        return {f.kind for f in self.faults}


class FaultyCamera(WrappedSource):
    """Wraps a clip source; inside a camera fault's window each frame slot misbehaves."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        super().__init__(inner)
        self.plan = plan
        self._last_good: np.ndarray | None = None

    def read(self) -> Frame | None:
        frame = self.inner.read()
        if frame is None:
            return None
        self.plan.tick(frame.t)
        if self.plan.active(FaultKind.CAMERA_READ_ERROR, frame.t):
            raise CameraError(f"injected read error at {frame.t:.2f} s")
        if self.plan.active(FaultKind.CAMERA_FROZEN, frame.t) and self._last_good is not None:
            frame.image = self._last_good
        elif self.plan.active(FaultKind.CAMERA_BLACK, frame.t):
            frame.image = np.zeros_like(frame.image)
        elif self.plan.active(FaultKind.CAMERA_BLUR, frame.t):
            sigma = max(frame.image.shape[:2]) / 60.0
            frame.image = cv2.GaussianBlur(frame.image, (0, 0), sigma)
        else:
            self._last_good = frame.image
        return frame


def faulty_detect(detect: Callable[[Any], DetectorResult], plan: FaultPlan
                  ) -> Callable[[Any], DetectorResult]:
    def wrapped(image: Any) -> DetectorResult:
        if plan.active(FaultKind.MODEL_ERROR):
            raise RuntimeError(f"injected model failure at {plan.now:.2f} s")
        return detect(image)

    return wrapped


class FaultyRelay:
    """A relay whose read-back is inverted inside the fault's window (a welded or dead contact
    seen through the read-back)."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set(self, on: bool) -> bool:
        state = self.inner.set(on)
        return not state if self.plan.active(FaultKind.RELAY_READBACK) else state

    def read(self) -> bool:
        state = self.inner.read()
        return not state if self.plan.active(FaultKind.RELAY_READBACK) else state

    def close(self) -> None:
        self.inner.close()
