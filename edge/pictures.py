"""The installer's picture: one frame with the zone, every detection and whether it counts.

Also the blur that every picture leaving the box gets (maintenance snapshots): people are
unrecognisable, the zone and the boxes stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import cv2
import numpy as np

from detector.base import Detection
from edge.config import Config
from edge.decision.zones import Zone
from sim.report import AMBER, BLACK, GREEN, GREY, WHITE, draw_zone


def _px(det: Detection, w: int, h: int) -> tuple[int, int, int, int]:
    return (max(0, int(det.x1 * w)), max(0, int(det.y1 * h)),
            min(w, int(det.x2 * w)), min(h, int(det.y2 * h)))


def blur_people(image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """A copy with every person's box pixelated beyond recognition."""
    out = image.copy()
    h, w = out.shape[:2]
    for d in detections:
        x1, y1, x2, y2 = _px(d, w, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        roi = out[y1:y2, x1:x2]
        # about six blocks across a person: a shape, no face, no clothing pattern
        block = max(4, (x2 - x1) // 6)
        small = cv2.resize(roi, (max(1, (x2 - x1) // block), max(1, (y2 - y1) // block)),
                           interpolation=cv2.INTER_AREA)
        out[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1),
                                       interpolation=cv2.INTER_NEAREST)
    return out


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour, scale: float = 0.5) -> None:
    """Text on a dark box, readable on any background."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    cv2.rectangle(img, (x - 2, y - th - 3), (x + tw + 2, y + base), BLACK, -1)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw_snapshot(image: np.ndarray, detections: Sequence[Detection], cfg: Config, *,
                  blur: bool = False, when: datetime | None = None) -> np.ndarray:
    """Zone (amber), boxes in the zone (green, thick) and outside it (grey), each with its
    score and standing point (the bottom-centre that decides)."""
    img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    img = blur_people(img, detections) if blur else img.copy()
    h, w = img.shape[:2]
    zone = Zone(cfg.zone.polygon)
    draw_zone(img, list(cfg.zone.polygon))
    inside = 0
    for d in sorted(detections, key=lambda d: d.score):
        x1, y1, x2, y2 = _px(d, w, h)
        point = d.bottom_centre
        counts = zone.contains(point)
        inside += counts
        colour = GREEN if counts else GREY
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, 3 if counts else 1)
        cv2.circle(img, (int(point[0] * (w - 1)), int(point[1] * (h - 1))), 5, colour, -1)
        label_y = y1 - 6 if y1 >= 50 else max(y1, 28) + 18  # under the title bar, inside the box
        _text(img, f"{d.score:.2f} {'IN ZONE' if counts else 'outside'}", (x1 + 2, label_y),
              colour)
    when = when or datetime.now()
    title = (f"{cfg.stop.id} {when:%Y-%m-%d %H:%M:%S}  people {len(detections)}, in zone "
             f"{inside}  (threshold {cfg.detector.score_threshold:g})")
    cv2.rectangle(img, (0, 0), (w, 28), BLACK, -1)
    cv2.putText(img, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, WHITE, 1, cv2.LINE_AA)
    _text(img, "zone", (8, h - 10), AMBER)
    return img
