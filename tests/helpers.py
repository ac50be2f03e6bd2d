"""Scripted detections for the decision-core tests."""

from __future__ import annotations

from detector.base import Detection


def person(x: float, y_feet: float, h: float = 0.3, w: float = 0.1, score: float = 0.9
           ) -> Detection:
    """A person standing at (x, y_feet) in frame fractions."""
    return Detection(x - w / 2, y_feet - h, x + w / 2, y_feet, score)
