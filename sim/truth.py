"""Truth readers: presence intervals, MOT boxes and labelled stills, as people-in-zone over time.

Every kind ends up as the same two things: the number of people in the zone at a frame's time
(None where it is not scored), and each person's stays in the zone, from which the expected light
follows by the daemon's own rules (on after ``dwell_s``, off ``hold_s`` after the last waiting
person has left, no minimum on-time).
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edge.decision.zones import Zone

Box = tuple[float, float, float, float]
DETECTION_MIN_VISIBILITY = 0.5  # truth boxes less visible than this do not count for detection


@dataclass(frozen=True, slots=True)
class Stay:
    start: float
    end: float


@dataclass(slots=True)
class Truth:
    kind: str
    tolerance_s: float
    stays: list[Stay] = field(default_factory=list)
    # presence: from the stays; mot: per frame index; frames: per still path
    per_frame: dict[int, int] = field(default_factory=dict)
    per_still: dict[str, int | None] = field(default_factory=dict)
    frame_dt: float = 0.0
    # mot: person boxes (x1, y1, x2, y2 px) per frame that count for detection scores, and the
    # ones that count neither way (ignored, not a person, or less than half visible)
    boxes: dict[int, list[Box]] = field(default_factory=dict)
    ignored_boxes: dict[int, list[Box]] = field(default_factory=dict)

    def occupied(self, t: float, index: int, path: str | None) -> bool | None:
        """Someone in the zone at this frame (None: not scored)."""
        if self.kind == "frames":
            if path is None:
                return None
            v = self.per_still.get(str(Path(path).resolve()))
            return None if v is None else v > 0
        if self.kind == "mot":
            if index not in self.per_frame:
                return None
            return self.per_frame[index] > 0
        return any(s.start <= t < s.end for s in self.stays)

    def edges(self) -> list[float]:
        """Times at which truth occupancy changes."""
        out: set[float] = set()
        if self.kind == "presence":
            for s in self.stays:
                out.update((s.start, s.end))
        elif self.kind == "mot":
            frames = sorted(self.per_frame)
            for a, b in itertools.pairwise(frames):
                if (self.per_frame[a] > 0) != (self.per_frame[b] > 0):
                    out.add((b - 1) * self.frame_dt)
        return sorted(out)


def _rows(path: Path) -> Iterable[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(line for line in f if not line.lstrip().startswith("#")):
            if row and any(cell.strip() for cell in row):
                yield [c.strip() for c in row]


def read_presence(path: Path, tolerance_s: float) -> Truth:
    rows = list(_rows(path))
    if rows and rows[0][0] == "start_s":
        rows = rows[1:]
    stays = [Stay(float(a), float(b)) for a, b, *_ in rows]
    return Truth("presence", tolerance_s, stays=sorted(stays, key=lambda s: s.start))


@dataclass(frozen=True, slots=True)
class MotBox:
    frame: int
    id: int
    left: float
    top: float
    width: float
    height: float


def read_mot_boxes(path: Path, with_pictures: set[int] | None = None,
                   min_visibility: float = 0.0) -> tuple[list[MotBox], list[MotBox]]:
    """(people who count, boxes to ignore): MOT rules of shared/README.md."""
    counted, ignored = [], []
    for row in _rows(path):
        vals = [float(v) for v in row]
        frame, pid = int(vals[0]), int(vals[1])
        if with_pictures is not None and frame not in with_pictures:
            continue
        box = MotBox(frame, pid, *vals[2:6])
        consider = len(vals) < 7 or vals[6] != 0
        person = len(vals) != 9 or int(vals[7]) in (1, 7)
        visible = len(vals) != 9 or vals[8] >= min_visibility
        (counted if consider and person and visible else ignored).append(box)
    return counted, ignored


def read_mot(path: Path, tolerance_s: float, zone: Zone, frame_wh: tuple[int, int],
             fps: float, frames_with_pictures: set[int]) -> Truth:
    w, h = frame_wh
    boxes, _ = read_mot_boxes(path, frames_with_pictures)
    per_frame = {n: 0 for n in frames_with_pictures}
    in_zone_frames: dict[int, list[int]] = defaultdict(list)
    for b in boxes:
        if zone.contains(((b.left + b.width / 2) / w, (b.top + b.height) / h)):
            per_frame[b.frame] += 1
            in_zone_frames[b.id].append(b.frame)
    dt = 1.0 / fps
    stays = []
    for frames in in_zone_frames.values():
        frames.sort()
        run_start = prev = frames[0]
        for n in [*frames[1:], None]:
            if n is None or n != prev + 1:
                stays.append(Stay((run_start - 1) * dt, prev * dt))
                if n is not None:
                    run_start = n
            if n is not None:
                prev = n
    counted, ignored = read_mot_boxes(path, frames_with_pictures, DETECTION_MIN_VISIBILITY)
    boxes: dict[int, list[Box]] = {n: [] for n in frames_with_pictures}
    ignored_boxes: dict[int, list[Box]] = {n: [] for n in frames_with_pictures}
    for into, rows in ((boxes, counted), (ignored_boxes, ignored)):
        for b in rows:
            into[b.frame].append((b.left, b.top, b.left + b.width, b.top + b.height))
    return Truth("mot", tolerance_s, stays=stays, per_frame=per_frame, frame_dt=dt,
                 boxes=boxes, ignored_boxes=ignored_boxes)


def read_frames(path: Path, tolerance_s: float) -> Truth:
    rows = list(_rows(path))
    if rows and rows[0][0] == "file":
        rows = rows[1:]
    per_still: dict[str, int | None] = {}
    for file, label, *_ in rows:
        key = str((path.parent / file).resolve())
        per_still[key] = None if label == "?" else int(label)
    return Truth("frames", tolerance_s, per_still=per_still)


def expected_light(stays: list[Stay], dwell_s: float, hold_s: float) -> list[tuple[float, float]]:
    """Intervals during which the light should be on, merged."""
    spans = sorted((s.start + dwell_s, s.end + hold_s) for s in stays if s.end - s.start >= dwell_s)
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def waits(stays: list[Stay], dwell_s: float) -> list[Stay]:
    """Truth waits: stays of at least ``dwell_s``."""
    return [s for s in stays if s.end - s.start >= dwell_s]
