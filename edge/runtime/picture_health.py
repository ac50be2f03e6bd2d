"""Picture health: a frozen, black (covered) or badly blurred camera, from the frames themselves.

Measured on a small grey copy of each frame (a fraction of a millisecond). Each condition must
hold for its configured time before its fault is raised, and the fault clears as soon as the
picture is back. Pure: the caller passes the frame's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.config import HealthConfig
from edge.runtime.faults import Fault

WORK_WIDTH = 160
FROZEN_DIFF = 0.05  # mean grey-level change below which two frames are the same picture
BASELINE_FRAMES = 10  # healthy frames that set the sharpness baseline
BASELINE_WEIGHT = 0.02  # how fast the baseline follows a slowly changing scene
MIN_SHARPNESS = 1.0  # a Laplacian variance this low is flat whatever the baseline


BLACK_SPREAD = 6.0  # a dark picture is black when its standard deviation is below this too


@dataclass(frozen=True, slots=True)
class PictureStats:
    mean: float
    std: float
    sharpness: float  # variance of the Laplacian
    change: float  # mean absolute change since the still picture began


def small_grey(image: np.ndarray) -> np.ndarray:
    """Every step-th pixel, grey: a view, no filtering; the figures are statistics of it."""
    step = max(1, image.shape[1] // WORK_WIDTH)
    sub = np.ascontiguousarray(image[::step, ::step])
    return sub if sub.ndim == 2 else cv2.cvtColor(sub, cv2.COLOR_BGR2GRAY)


def brightness(small: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of the grey levels."""
    mean, std = (float(v[0][0]) for v in cv2.meanStdDev(small))
    return mean, std


def is_black(mean: float, std: float, s: HealthConfig) -> bool:
    """The one rule for a black picture (lens covered): dark, and almost no contrast. The
    daemon's ``camera_black`` and commissioning's camera check both ask this."""
    return mean < s.black_level and std < BLACK_SPREAD


class CameraHealth:
    """The ``health`` section's checks on one camera's frames (``s``: the section itself)."""

    def __init__(self, s: HealthConfig) -> None:
        self.s = s
        self._ref: np.ndarray | None = None
        self._still_since: float | None = None
        self._since: dict[Fault, float | None] = {
            Fault.CAMERA_FROZEN: None, Fault.CAMERA_BLACK: None, Fault.CAMERA_BLURRED: None}
        self.baseline: float | None = None
        self._baseline_n = 0
        self.active: set[Fault] = set()
        self.unusable = False
        self.last: PictureStats | None = None

    def update(self, image: np.ndarray, now: float) -> set[Fault]:
        """The picture faults active after this frame."""
        small = small_grey(image)
        mean, std = brightness(small)
        sharpness = float(cv2.Laplacian(small, cv2.CV_32F).var())
        if self._ref is None or self._ref.shape != small.shape:
            change = float("inf")
        else:
            change = float(cv2.absdiff(small, self._ref).mean())
        if change > FROZEN_DIFF:
            self._ref, self._still_since = small, now
        self.last = PictureStats(mean, std, sharpness, change)

        black = is_black(mean, std, self.s)
        frozen = self._still_since is not None and now - self._still_since >= self.s.frozen_s
        blurred = not black and (sharpness < MIN_SHARPNESS or (
            self.baseline is not None and self._baseline_n >= BASELINE_FRAMES
            and sharpness < self.s.blur_ratio * self.baseline))
        # nothing can be seen on a black or smeared picture, even before its fault is raised
        self.unusable = black or blurred
        if not (black or blurred or frozen):
            self._learn(sharpness)
        self._hold(Fault.CAMERA_BLACK, black, now, self.s.black_s)
        self._hold(Fault.CAMERA_BLURRED, blurred, now, self.s.blur_s)
        if frozen:
            self.active.add(Fault.CAMERA_FROZEN)
        else:
            self.active.discard(Fault.CAMERA_FROZEN)
        return set(self.active)

    def _learn(self, sharpness: float) -> None:
        self._baseline_n += 1
        if self.baseline is None:
            self.baseline = sharpness
        else:
            w = 1.0 / self._baseline_n if self._baseline_n < BASELINE_FRAMES else BASELINE_WEIGHT
            self.baseline += w * (sharpness - self.baseline)

    def _hold(self, fault: Fault, condition: bool, now: float, after_s: float) -> None:
        if not condition:
            self._since[fault] = None
            self.active.discard(fault)
            return
        if self._since[fault] is None:
            self._since[fault] = now
        if now - self._since[fault] >= after_s:  # type: ignore[operator]
            self.active.add(fault)
