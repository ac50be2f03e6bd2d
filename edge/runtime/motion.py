"""Cheap motion measure for the adaptive rate: frame differencing on a small grey image.

Only the zone's bounding box (with a margin) is looked at, and the boxes of people already being
tracked are masked out, so a waiting person who fidgets does not count as motion while someone
walking in, or a waiting person walking off, does.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from detector.base import Detection

WORK_WIDTH = 96  # pixels across the watched region after downscaling
PIXEL_DELTA = 18  # grey levels a pixel must change by to count
BOX_PAD = 0.25


class MotionDetector:
    def __init__(self, region: tuple[float, float, float, float], min_fraction: float) -> None:
        """``region`` x1, y1, x2, y2 in frame fractions; ``min_fraction`` of changed pixels."""
        self.region = region
        self.min_fraction = min_fraction
        self._prev: np.ndarray | None = None
        self.last_fraction = 0.0

    def reset(self) -> None:
        self._prev = None

    def update(self, image: np.ndarray, people: Iterable[Detection] = ()) -> bool:
        """True when the watched region changed since the previous frame."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = self.region
        px1, py1 = int(x1 * w), int(y1 * h)
        px2, py2 = max(px1 + 1, int(x2 * w)), max(py1 + 1, int(y2 * h))
        crop = image[py1:py2, px1:px2]
        grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        scale = WORK_WIDTH / grey.shape[1]
        small = cv2.resize(grey, (WORK_WIDTH, max(1, round(grey.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return True
        changed = cv2.absdiff(small, prev) > PIXEL_DELTA
        sh, sw = small.shape
        rw, rh = (x2 - x1) or 1.0, (y2 - y1) or 1.0
        for b in people:
            pw, ph = b.width * BOX_PAD, b.height * BOX_PAD
            bx1 = int(((b.x1 - pw - x1) / rw) * sw)
            bx2 = int(((b.x2 + pw - x1) / rw) * sw) + 1
            by1 = int(((b.y1 - ph - y1) / rh) * sh)
            by2 = int(((b.y2 + ph - y1) / rh) * sh) + 1
            changed[max(0, by1):max(0, by2), max(0, bx1):max(0, bx2)] = False
        self.last_fraction = float(np.count_nonzero(changed)) / changed.size
        return self.last_fraction >= self.min_fraction
