"""Report pictures of one simulated run: a timeline and an annotated snapshot (OpenCV drawing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.config import Config
from edge.pictures import AMBER, BLACK, BLUE, GREEN, GREY, RED, WHITE, draw_zone
from sim.scenario import Scenario
from sim.scoring import FrameMatch
from sim.truth import Truth, expected_light

if TYPE_CHECKING:
    from sim.recorder import Recorder

def write_report(out: Path, sc: Scenario, cfg: Config, truth: Truth, rec: Recorder,
                 duration_s: float) -> dict[str, str]:
    out = out / sc.name
    out.mkdir(parents=True, exist_ok=True)
    paths = {"timeline": str(out / "timeline.png")}
    cv2.imwrite(paths["timeline"], timeline(sc, truth, rec, duration_s))
    if rec.snapshot is not None:
        paths["snapshot"] = str(out / "snapshot.png")
        cv2.imwrite(paths["snapshot"], snapshot(rec.snapshot[0], rec.snapshot[1], cfg))
    for index in worst_frames(rec.matches, DETECTION_FRAMES):
        path = rec.frame_paths.get(index)
        if path is None:
            continue
        key = f"detections_{index}"
        paths[key] = str(out / f"detections-{index:06d}.png")
        cv2.imwrite(paths[key], detection_picture(cv2.imread(path), rec.matches[index], index))
    return paths


DETECTION_FRAMES = 3  # pictures of matched, missed and false boxes per mot scenario


def worst_frames(matches: dict[int, FrameMatch], n: int) -> list[int]:
    """The ``n`` frames with the most missed and false boxes (earliest first on a tie)."""
    ranked = sorted(matches, key=lambda i: (-(len(matches[i].missed) + len(matches[i].false)), i))
    return sorted(ranked[:n])


def detection_picture(image: np.ndarray, m: FrameMatch, index: int) -> np.ndarray:
    """One frame with its truth and detections: where the detector fails.

    Green: a detection that matches a person; red: a person nobody detected; blue: a detection
    of nobody; grey (thin): people who do not count (ignored, or less than half visible).
    """
    img = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for boxes, colour, width in ((m.ignored, GREY, 1), (m.matched, GREEN, 2),
                                 (m.missed, RED, 2), (m.false, BLUE, 2)):
        for x1, y1, x2, y2 in boxes:
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), colour, width)
    text = (f"frame {index}: matched {len(m.matched)} (green), missed {len(m.missed)} (red), "
            f"false {len(m.false)} (blue), not counted (grey)")
    size = max(0.5, img.shape[1] / 1600)
    y = int(30 * size) + 4
    cv2.putText(img, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, size, BLACK, 5, cv2.LINE_AA)
    cv2.putText(img, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, size, WHITE, 2, cv2.LINE_AA)
    return img


def timeline(sc: Scenario, truth: Truth, rec: Recorder, duration_s: float) -> np.ndarray:
    """Rows against time: truth presence, detected occupancy, waiting count, expected and
    actual light."""
    width, left, row_h = 1400, 170, 46
    rows = ["truth in zone", "detected in zone", "waiting (count)", "expected light", "light"]
    img = np.full((row_h * len(rows) + 70, width, 3), 255, np.uint8)
    span = max(duration_s, 1e-6)

    def x_of(t: float) -> int:
        return left + int((width - left - 20) * min(max(t / span, 0.0), 1.0))

    samples = rec.samples
    nxt = [s.t for s in samples[1:]] + [duration_s]
    max_wait = max([s.waiting for s in samples] + [1])
    expected = expected_light(truth.stays, sc.dwell_s, sc.hold_s)
    for r, label in enumerate(rows):
        y0 = 20 + r * row_h
        cv2.putText(img, label, (8, y0 + 28), cv2.FONT_HERSHEY_SIMPLEX, 0.5, BLACK, 1,
                    cv2.LINE_AA)
        cv2.rectangle(img, (left, y0 + 6), (width - 20, y0 + row_h - 6), (235, 235, 235), -1)
        for s, t1 in zip(samples, nxt, strict=True):
            x0, x1 = x_of(s.t), max(x_of(t1), x_of(s.t) + 1)
            if r == 0 and s.truth_occupied:
                cv2.rectangle(img, (x0, y0 + 6), (x1, y0 + row_h - 6), GREY, -1)
            elif r == 1 and s.occupied:
                colour = GREEN if s.truth_occupied in (True, None) else RED
                cv2.rectangle(img, (x0, y0 + 6), (x1, y0 + row_h - 6), colour, -1)
            elif r == 2 and s.waiting:
                h = int((row_h - 12) * s.waiting / max_wait)
                cv2.rectangle(img, (x0, y0 + row_h - 6 - h), (x1, y0 + row_h - 6), BLUE, -1)
            elif r == 4 and s.light_on:
                cv2.rectangle(img, (x0, y0 + 6), (x1, y0 + row_h - 6), AMBER, -1)
        if r == 3:
            for a, b in expected:
                cv2.rectangle(img, (x_of(a), y0 + 6), (x_of(b), y0 + row_h - 6), GREY, -1)
    base = 20 + len(rows) * row_h
    step = 10 if span > 60 else (1 if span > 5 else 0.5)
    t = 0.0
    while t <= span:
        x = x_of(t)
        cv2.line(img, (x, base), (x, base + 6), BLACK, 1)
        cv2.putText(img, f"{t:g}s", (x - 10, base + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.4, BLACK, 1,
                    cv2.LINE_AA)
        t += step
    cv2.putText(img, f"{sc.name}: dwell {sc.dwell_s:g} s, hold {sc.hold_s:g} s "
                f"(green: seen and true, red: seen but not true)", (left, base + 45),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, BLACK, 1, cv2.LINE_AA)
    return img


def snapshot(image: np.ndarray, record, cfg: Config) -> np.ndarray:
    """The frame with the zone, every person's box, standing point and dwell."""
    img = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    draw_zone(img, list(cfg.zone.polygon))
    for p in record.state.people:
        b = p.box
        colour = BLUE if p.waiting else (GREEN if p.in_zone else GREY)
        p1, p2 = (int(b.x1 * w), int(b.y1 * h)), (int(b.x2 * w), int(b.y2 * h))
        cv2.rectangle(img, p1, p2, colour, 2)
        cv2.circle(img, (int(p.point[0] * w), int(p.point[1] * h)), 4, colour, -1)
        label = f"#{p.id} {b.score:.2f} dwell {p.dwell_s:.1f}s" + (" WAITING" if p.waiting else "")
        cv2.putText(img, label, (p1[0], max(12, p1[1] - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)
    light = "ON" if record.light_on else "OFF"
    cv2.putText(img, f"t={record.frame.t:.1f}s waiting={record.state.waiting} light={light}",
                (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, WHITE, 2, cv2.LINE_AA)
    return img
