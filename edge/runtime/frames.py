"""The frame type and the camera-source interface every source implements (real or simulated)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(slots=True)
class Frame:
    image: np.ndarray  # BGR, or one channel from an infrared camera
    t: float  # monotonic seconds on the source's clock (the clip's own time in the simulator)
    index: int  # counted from 1 in the source's own numbering
    wall: datetime | None = None  # local wall time for the schedule; None means "in service"
    path: str | None = None  # the still's file, for folder sources
    read_ms: float = 0.0  # time spent getting this frame (decode, skipping frames, waiting)


class CameraError(RuntimeError):
    pass


class CameraFileEnded(CameraError):
    """A camera file (or a scenario's clip) ended before its last frame: truncated or damaged."""


@runtime_checkable
class FrameSource(Protocol):
    """Where frames come from. ``read`` returns the next frame to process, None at the end."""

    live: bool

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...
