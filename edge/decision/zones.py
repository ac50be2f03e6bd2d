"""Polygon membership of the point where a person stands."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


class Zone:
    """A waiting zone in frame fractions; points on its edge count as inside."""

    def __init__(self, polygon: Sequence[Sequence[float]]) -> None:
        self.polygon = [(float(x), float(y)) for x, y in polygon]
        self._contour = np.asarray(self.polygon, np.float32).reshape(-1, 1, 2)

    def contains(self, point: tuple[float, float]) -> bool:
        return cv2.pointPolygonTest(self._contour, (float(point[0]), float(point[1])), False) >= 0

    def bounds(self) -> tuple[float, float, float, float]:
        """x1, y1, x2, y2 of the zone's bounding box, in fractions."""
        x, y, w, h = cv2.boundingRect(self._contour.reshape(-1, 2) * 1e4)
        return x / 1e4, y / 1e4, (x + w) / 1e4, (y + h) / 1e4
