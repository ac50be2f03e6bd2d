"""Cheap change measures for the adaptive rate, on one small grey image of the watched region.

Only the zone's bounding box (with a margin) is looked at, and the boxes of people already being
tracked are masked out, so a waiting person who fidgets does not count while someone walking in,
or a waiting person walking off, does. Two measures share the image:

- *motion*: the region changed since the previous frame (frame differencing);
- *changed since the last look*: it differs from the image taken when the detector last ran.
  Frame differencing misses a slow or low-contrast arrival (someone edging out of a dark
  doorway changes few pixels from one frame to the next); against the last look the change adds
  up until the detector has seen it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from detector.base import Detection

WORK_WIDTH = 96  # pixels across the watched region after downscaling
PIXEL_DELTA = 18  # grey levels a pixel must change by to count
BOX_PAD = 0.25


@dataclass(frozen=True, slots=True)
class MotionReading:
    motion: bool  # changed since the previous frame
    changed: bool  # changed since the detector last looked
    fraction: float  # share of the region's pixels changed since the previous frame
    since_look: float  # share changed since the last look


class MotionDetector:
    def __init__(self, region: tuple[float, float, float, float], min_fraction: float) -> None:
        """``region`` x1, y1, x2, y2 in frame fractions; ``min_fraction`` of changed pixels."""
        self.region = region
        self.min_fraction = min_fraction
        self._prev: np.ndarray | None = None
        self._look: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = None
        self._look = None

    def looked(self) -> None:
        """The detector runs on the frame just measured: it becomes the reference."""
        self._look = self._prev

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        x1, y1, x2, y2 = self.region
        px1, py1 = int(x1 * w), int(y1 * h)
        px2, py2 = max(px1 + 1, int(x2 * w)), max(py1 + 1, int(y2 * h))
        crop = image[py1:py2, px1:px2]
        grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        scale = WORK_WIDTH / grey.shape[1]
        small = cv2.resize(grey, (WORK_WIDTH, max(1, round(grey.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0)

    def _mask(self, changed: np.ndarray, people: list[Detection]) -> None:
        x1, y1, x2, y2 = self.region
        sh, sw = changed.shape
        rw, rh = (x2 - x1) or 1.0, (y2 - y1) or 1.0
        for b in people:
            pw, ph = b.width * BOX_PAD, b.height * BOX_PAD
            bx1 = int(((b.x1 - pw - x1) / rw) * sw)
            bx2 = int(((b.x2 + pw - x1) / rw) * sw) + 1
            by1 = int(((b.y1 - ph - y1) / rh) * sh)
            by2 = int(((b.y2 + ph - y1) / rh) * sh) + 1
            changed[max(0, by1):max(0, by2), max(0, bx1):max(0, bx2)] = False

    def _fraction(self, a: np.ndarray, b: np.ndarray | None, people: list[Detection]) -> float:
        if b is None or b.shape != a.shape:
            return 1.0  # nothing to compare with: look
        changed = cv2.absdiff(a, b) > PIXEL_DELTA
        self._mask(changed, people)
        return float(np.count_nonzero(changed)) / changed.size

    def measure(self, image: np.ndarray, people: Iterable[Detection] = ()) -> MotionReading:
        """Both measures on this frame (which becomes the previous frame for the next one)."""
        people = list(people)
        small = self._small(image)
        prev, self._prev = self._prev, small
        frac = self._fraction(small, prev, people)
        since = self._fraction(small, self._look, people)
        return MotionReading(frac >= self.min_fraction, since >= self.min_fraction, frac, since)

    def update(self, image: np.ndarray, people: Iterable[Detection] = ()) -> bool:
        """True when the watched region changed since the previous frame."""
        return self.measure(image, people).motion
