"""Pictures of a stop, drawn in one place: the colours, the zone, labels, the pixelation that
every picture leaving the box gets, and the installer's annotated frame.

Used by the MQTT snapshot (``snapshot_jpeg``), ``stopsafe snapshot`` and commissioning
(``draw_snapshot``) and the simulator's report (``sim/report.py``: timeline and snapshot).
Pixelation, unlike a light blur, cannot be undone: people are unrecognisable, the zone and the
boxes stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import cv2
import numpy as np

from detector.base import Detection
from edge.config import Config
from edge.decision.zones import Zone

GREEN, RED, AMBER, BLUE, GREY, WHITE, BLACK = (
    (60, 180, 75), (40, 40, 220), (0, 170, 255), (200, 120, 0), (150, 150, 150),
    (255, 255, 255), (0, 0, 0),
)
PIXELATE_MARGIN = 0.15  # of a box's size on every side: a box that is a little off still hides
SNAPSHOT_MAX_WIDTH = 640  # a snapshot sent over MQTT is no wider than this
SNAPSHOT_JPEG_QUALITY = 70

Box = Detection | tuple[float, float, float, float]  # fractions of width and height


def _px(box: Box, w: int, h: int, margin: float = 0.0) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = ((box.x1, box.y1, box.x2, box.y2) if isinstance(box, Detection) else box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, int((x1 - mx) * w)), max(0, int((y1 - my) * h)),
            min(w, int((x2 + mx) * w) + (1 if margin else 0)),
            min(h, int((y2 + my) * h) + (1 if margin else 0)))


def person_boxes(detections: Sequence[Detection], people: Sequence[object]) -> list[Box]:
    """Every box that may hold a person on a frame: this frame's detections and the tracked
    people (a person the detector missed on this frame is still hidden)."""
    boxes: list[Box] = [(d.x1, d.y1, d.x2, d.y2) for d in detections]
    boxes += [(p.box.x1, p.box.y1, p.box.x2, p.box.y2) for p in people]  # type: ignore[attr-defined]
    return boxes


def blur_people(image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """A copy with every person's box (and a margin round it) pixelated beyond recognition."""
    out = image.copy()
    h, w = out.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = _px(box, w, h, PIXELATE_MARGIN)
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


def snapshot_jpeg(image: np.ndarray, boxes: Sequence[Box]) -> bytes:
    """The maintenance snapshot: people pixelated, at most ``SNAPSHOT_MAX_WIDTH`` wide, JPEG."""
    out = blur_people(image, boxes)
    h, w = out.shape[:2]
    if w > SNAPSHOT_MAX_WIDTH:
        out = cv2.resize(out, (SNAPSHOT_MAX_WIDTH, int(h * SNAPSHOT_MAX_WIDTH / w)),
                         interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()


def draw_zone(img: np.ndarray, polygon: Sequence[Sequence[float]], colour=AMBER) -> None:
    h, w = img.shape[:2]
    pts = np.array([[int(x * (w - 1)), int(y * (h - 1))] for x, y in polygon], np.int32)
    overlay = img.copy()
    cv2.fillPoly(overlay, [pts], colour)
    cv2.addWeighted(overlay, 0.18, img, 0.82, 0, dst=img)
    cv2.polylines(img, [pts], True, colour, 2, cv2.LINE_AA)


def label(img: np.ndarray, text: str, org: tuple[int, int], colour, scale: float = 0.5) -> None:
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
        label(img, f"{d.score:.2f} {'IN ZONE' if counts else 'outside'}", (x1 + 2, label_y),
              colour)
    when = when or datetime.now()
    title = (f"{cfg.stop.id} {when:%Y-%m-%d %H:%M:%S}  people {len(detections)}, in zone "
             f"{inside}  (threshold {cfg.detector.score_threshold:g})")
    cv2.rectangle(img, (0, 0), (w, 28), BLACK, -1)
    cv2.putText(img, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, WHITE, 1, cv2.LINE_AA)
    label(img, "zone", (8, h - 10), AMBER)
    return img
