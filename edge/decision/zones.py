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


Point = tuple[float, float]


def _orient(a: Point, b: Point, c: Point) -> float:
    """Twice the signed area of a, b, c: > 0 counter-clockwise, 0 in a line."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    """``p``, known to be in line with a-b, lies between them."""
    return (min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))


def segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Segments a-b and c-d cross or touch (an end on the other, or overlapping in a line)."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
        return True
    return ((o1 == 0 and _on_segment(a, b, c)) or (o2 == 0 and _on_segment(a, b, d))
            or (o3 == 0 and _on_segment(c, d, a)) or (o4 == 0 and _on_segment(c, d, b)))


def self_intersection(polygon: Sequence[Sequence[float]]) -> tuple[int, int] | None:
    """The first two edges of the closed ``polygon`` that cross or touch anywhere but at the
    corner they share (edge i runs from point i to point i+1), None for a simple polygon.

    A point repeated right after itself is no edge and is skipped. Such a zone has no single
    inside: 'in the zone' would depend on how the crossing is read (even-odd or winding), so a
    zone drawn as a figure eight is refused rather than guessed at.
    """
    pts: list[tuple[int, Point]] = []
    for i, (x, y) in enumerate(polygon):
        p = (float(x), float(y))
        if not pts or pts[-1][1] != p:
            pts.append((i, p))
    while len(pts) > 1 and pts[0][1] == pts[-1][1]:
        pts.pop()
    n = len(pts)
    if n < 3:
        return None
    edges = [(pts[k][0], pts[k][1], pts[(k + 1) % n][1]) for k in range(n)]
    for i in range(n):
        ia, a, b = edges[i]
        for j in range(i + 1, n):
            ja, c, d = edges[j]
            if j == i + 1 or (i == 0 and j == n - 1):
                # neighbours share a corner; they meet elsewhere only when folding back in a line
                shared, p, q = (b, a, d) if j == i + 1 else (a, b, c)
                if (_orient(p, shared, q) == 0
                        and (shared[0] - p[0]) * (q[0] - shared[0])
                        + (shared[1] - p[1]) * (q[1] - shared[1]) < 0):
                    return ia, ja
                continue
            if segments_meet(a, b, c, d):
                return ia, ja
    return None


def box_polygon(box: tuple[float, float, float, float], grow: float = 0.02
                ) -> list[tuple[float, float]]:
    """A mask polygon round a box (fractions), ``grow`` larger on every side."""
    x1, y1, x2, y2 = box
    x1, y1 = max(0.0, x1 - grow), max(0.0, y1 - grow)
    x2, y2 = min(1.0, x2 + grow), min(1.0, y2 + grow)
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
