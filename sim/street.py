"""A hydrant on a busy street, made from the shared footage at run time (issue 25).

A still, person-shaped thing that the detector takes for a person (the pasted person of
:mod:`sim.synth`: a real person's pixels, unchanging) stands in view for the whole clip, and every
``every_s`` (about half a minute) something real passes in front of it: a car of
intel-carpark-empty driving over it (the car covers it: the picture under the car's pixels is
the road's, not the thing's), or a real walker of TUD-Campus cut out by its truth box and the
difference from that clip's empty street, walking the whole width at their own pace through
the zone (the thing and a tenth of the frame each side) and in front of the thing. Between the
passes the road is the car park's own empty stretch played back and forth, so the camera's
noise and the wet road's shimmer stay real.

Nothing is committed: the frames are written where the caller says, with a scenario.yaml and a
presence truth holding the walkers (real people, in the zone for less than dwell_s: passers-by,
never waiting).
``darken`` scales the picture so that the detector's light meter finds it dark and the night
profile (YOLOX-nano, the model that took the real hydrant for a person) looks at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector.base import Detection
from sim.synth import (
    EMPTY_CLIP,
    Paste,
    paste,
    pasted_person,
    read_clip,
    write_doc,
    write_frames,
)

WALKER_CLIP = "clips/tud-campus"
CAR_DIFF = 30  # grey levels from the empty road: a car's pixel
WALKER_DIFF = 25  # grey levels from TUD-Campus's median street: the walker's pixel
QUIET_BELOW = 0.008  # share of pixels off the empty road: no car (the lines alone: 0.2-0.6 %)
PASS_ABOVE = 0.015  # ... a car in view


@dataclass(frozen=True, slots=True)
class Footage:
    frames: list[np.ndarray]
    fps: float
    median: np.ndarray

    def off_median(self, i: int, diff: int) -> np.ndarray:
        """Pixels of frame ``i`` that differ from the clip's median by more than ``diff``."""
        d = self.frames[i].astype(np.int16) - self.median.astype(np.int16)
        d -= np.median(d, axis=(0, 1)).astype(np.int16)  # the camera's exposure, not a thing
        return np.abs(d).max(axis=2) > diff


def load_footage(clip: Path, fps: float | None = None) -> Footage:
    """A video file, or a folder of frames in name order at ``fps``."""
    if clip.is_dir():
        frames = [cv2.imread(str(p)) for p in sorted(clip.glob("*.jpg"))]
        rate = fps or 25.0
        if not frames:
            raise ValueError(f"{clip}: no frames")
    else:
        frames, rate = read_clip(clip, fps or 25.0)
    return Footage(frames, rate, np.median(np.stack(frames), axis=0).astype(np.uint8))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    out, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i))
            start = None
    return out


def road_spans(road: Footage) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """The longest stretch with no car in view, and every car pass (frame ranges)."""
    share = np.array([road.off_median(i, CAR_DIFF).mean() for i in range(len(road.frames))])
    quiet = max(_runs(share < QUIET_BELOW), key=lambda r: r[1] - r[0])
    passes = [r for r in _runs(share > PASS_ABOVE) if r[1] - r[0] >= road.fps]
    if not passes:
        raise ValueError("no car passes in the road footage")
    return quiet, passes


@dataclass(frozen=True, slots=True)
class Walker:
    """A real walker's pictures (patch, mask) and feet positions, one per source frame."""

    patches: list[np.ndarray]
    masks: list[np.ndarray]
    feet: list[tuple[float, float]]  # bottom centre, source pixels
    fps: float

    @property
    def duration_s(self) -> float:
        return len(self.patches) / self.fps


def walker(shared: Path) -> Walker:
    """The TUD-Campus person who walks furthest across, cut out by their truth box and the
    difference from the clip's median (the street without them)."""
    street = load_footage(shared / WALKER_CLIP / "img1", 25.0)
    rows = [line.split(",") for line in (shared / WALKER_CLIP / "gt" / "gt.txt").read_text()
            .splitlines() if line.strip()]
    tracks: dict[int, list[tuple[int, float, float, float, float]]] = {}
    for r in rows:
        tracks.setdefault(int(float(r[1])), []).append(
            (int(float(r[0])), *(float(v) for v in r[2:6])))
    best = max(tracks.values(), key=lambda v: abs(v[-1][1] - v[0][1]))
    fh, fw = street.frames[0].shape[:2]
    patches, masks, feet = [], [], []
    kernel = np.ones((3, 3), np.uint8)
    for frame_no, x, y, w, h in sorted(best):
        x1, y1 = max(0, int(x)), max(0, int(y))
        x2, y2 = min(fw, int(x + w)), min(fh, int(y + h))
        if x2 - x1 < 8 or y2 - y1 < 8:
            continue
        i = frame_no - 1
        mask = street.off_median(i, WALKER_DIFF)[y1:y2, x1:x2].astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
        patches.append(street.frames[i][y1:y2, x1:x2].copy())
        masks.append(mask.astype(bool))
        feet.append((x + w / 2, y + h))
    return Walker(patches, masks, feet, street.fps)


@dataclass(frozen=True, slots=True)
class Pass:
    kind: str  # "car" or "walker"
    start_s: float
    index: int  # which car pass (of the road footage's)


def schedule(duration_s: float, every_s: float, first_s: float, seed: int) -> list[Pass]:
    """Something passes every ``every_s`` (give or take a sixth of it), cars and walkers in
    turn, from ``first_s`` on."""
    rng = np.random.default_rng(seed)
    out, t, n = [], first_s, 0
    while t < duration_s - 5.0:
        out.append(Pass("car" if n % 2 == 0 else "walker", t, n // 2))
        t += every_s * (1.0 + rng.uniform(-1 / 6, 1 / 6))
        n += 1
    return out


def _place(road: Footage, passes: list[tuple[int, int]], size: tuple[int, int]
           ) -> tuple[int, int]:
    """Top-left corner for a patch of ``size`` (w, h) where every car pass covers the most of
    it at least once (the worst pass counts)."""
    w, h = size
    fh, fw = road.frames[0].shape[:2]
    covered = [np.any([road.off_median(i, CAR_DIFF) for i in range(a, b)], axis=0)
               for a, b in passes]
    best, where = -1.0, (0, 0)
    for y in range(0, fh - h + 1, 16):
        for x in range(0, fw - w + 1, 16):
            score = min(float(c[y:y + h, x:x + w].mean()) for c in covered)
            if score > best:
                best, where = score, (x, y)
    return where


def street_scenario(shared: Path, out: Path, detect: Callable[[np.ndarray], list[Detection]],
                    *, duration_s: float = 780.0, fps: float = 5.0, every_s: float = 30.0,
                    thing_from_s: float = 5.0, darken: float = 0.6, dwell_s: float = 3.0,
                    hold_s: float = 5.0, seed: int = 0, name: str = "hydrant-street"
                    ) -> tuple[Path, Paste, tuple[int, int]]:
    """Write the scenario (frames, scenario.yaml, presence.csv) into ``out``; returns its path,
    the still thing's paste and the frame's (width, height) (its box, for a mask)."""
    road = load_footage(shared / EMPTY_CLIP)
    quiet, car_passes = road_spans(road)
    thing, _ = pasted_person(shared, detect, thing_from_s, duration_s + 1.0)
    th, tw = thing.patch.shape[:2]
    x, y = _place(road, car_passes, (tw, th))
    thing = Paste(thing.patch, x, y, thing.start_s, thing.end_s)
    man = walker(shared)
    scale = 0.77 * th / float(np.median([m.shape[0] for m in man.masks]))  # the thing's person
    fh, fw = road.frames[0].shape[:2]
    feet_y = y + th * 1.03  # just in front of the thing (lower in the picture)
    # the walker keeps their pace and walks the whole width, in front of the thing, through a
    # zone round it (the thing's box and a tenth of the frame each side): in it for less than
    # dwell_s, a passer-by, not someone waiting
    speed = abs(man.feet[-1][0] - man.feet[0][0]) / man.duration_s * scale  # px a second
    margin = max(m.shape[1] for m in man.masks) * scale
    crossing_s = (fw + 2 * margin) / speed
    zx1, zx2 = max(0.0, x / fw - 0.1), min(1.0, (x + tw) / fw + 0.1)
    zone = [[zx1, 0.0], [zx2, 0.0], [zx2, 1.0], [zx1, 1.0]]
    plan = schedule(duration_s, every_s, every_s * 0.8, seed)
    presence = []
    for p in plan:
        if p.kind == "walker":  # in the zone while the feet are
            t_in = p.start_s + (zx1 * fw + margin) / speed
            presence.append((t_in, t_in + (zx2 - zx1) * fw / speed))

    def walker_at(t: float) -> tuple[int, float] | None:
        """The walker's picture and feet x at ``t`` (None: nobody walking)."""
        for p in plan:
            dt = t - p.start_s
            if p.kind == "walker" and 0 <= dt < crossing_s:
                return int(dt * man.fps) % len(man.patches), -margin + speed * dt
        return None

    def road_index(t: float) -> int:
        """The road frame at ``t``: a car pass, else the empty stretch back and forth."""
        for p in plan:
            dt = t - p.start_s
            if p.kind == "car":
                a, b = car_passes[p.index % len(car_passes)]
                a, b = max(0, a - int(road.fps)), min(len(road.frames), b + int(road.fps))
                if 0 <= dt < (b - a) / road.fps:
                    return a + int(dt * road.fps)
        qa, qb = quiet
        k = int(t * road.fps) % (2 * (qb - qa) - 2)
        return qa + k if k < qb - qa else qb - 2 - (k - (qb - qa))

    cars: dict[int, np.ndarray] = {}  # road frame -> the car's pixels over the thing

    def frames() -> Iterator[np.ndarray]:
        for n in range(round(duration_s * fps)):
            t = n / fps
            ri = road_index(t)
            f = road.frames[ri].copy()
            if thing.start_s <= t < thing.end_s:
                if ri not in cars:
                    cars[ri] = cv2.dilate(road.off_median(ri, CAR_DIFF).astype(np.uint8),
                                          np.ones((5, 5), np.uint8)).astype(bool)[
                                              y:y + th, x:x + tw]
                paste(f, thing.patch, x, y, ~cars[ri])
            walking = walker_at(t)
            if walking is not None:
                wi, cx = walking
                patch = cv2.resize(man.patches[wi], None, fx=scale, fy=scale)
                mask = cv2.resize(man.masks[wi].astype(np.uint8), None, fx=scale, fy=scale,
                                  interpolation=cv2.INTER_NEAREST).astype(bool)
                ph, pw = patch.shape[:2]
                paste(f, patch, int(cx - pw / 2), int(feet_y - ph), mask)
            if darken != 1.0:
                f = np.clip(f.astype(np.float32) * darken, 0, 255).astype(np.uint8)
            yield f

    write_frames(out, frames(), seed=seed)
    path = write_doc(out, name=name, fps=fps, zone=zone, dwell_s=dwell_s, hold_s=hold_s,
                     presence=presence)
    return path, thing, (fw, fh)
