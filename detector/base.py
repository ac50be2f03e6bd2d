"""What every detector back-end returns, and the interface the pipeline talks to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    """One person, as a box in fractions (0..1) of the frame's width and height."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where the person stands: the middle of the box's lower edge."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(slots=True)
class StageTimes:
    """Milliseconds spent in each step of one detector call."""

    preprocess_ms: float = 0.0
    invoke_ms: float = 0.0
    decode_ms: float = 0.0
    invokes: int = 0


@dataclass(slots=True)
class DetectorResult:
    detections: list[Detection] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)
    # boxes scored between detector.low_score and the threshold: never people, but a reason to
    # look closer (the adaptive rate goes to full when one stands near the zone)
    low: list[Detection] = field(default_factory=list)


@runtime_checkable
class Detector(Protocol):
    """A person detector: BGR frame in, person boxes out."""

    name: str

    def detect(self, frame_bgr: np.ndarray) -> DetectorResult: ...

    def close(self) -> None: ...
