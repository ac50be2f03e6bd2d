"""The detector's tunables as the back-ends see them (filled from the config's detector section)."""

from __future__ import annotations

from dataclasses import dataclass

from detector.base import Detection


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    score_threshold: float = 0.5
    nms_iou: float = 0.5
    min_box_height: float = 0.0
    max_box_height: float = 1.0
    max_box_area: float = 1.0
    threads: int = 2

    def accepts(self, d: Detection) -> bool:
        """Score and size filter, in frame fractions."""
        return (
            d.score >= self.score_threshold
            and self.min_box_height <= d.height <= self.max_box_height
            and d.width * d.height <= self.max_box_area
        )
