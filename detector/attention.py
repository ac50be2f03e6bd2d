"""Tiles only where people can be: which tiles of the grid the model runs on, call by call.

Running every tile on every frame pays for the whole region while people, if any, are in a few
places. A tile runs when

- something was found in it lately (a person, or a box under the threshold, within the last
  ``remember_runs`` calls): the tile that holds the box whole, since the overlap is wider than a
  person and so everyone lies whole in some tile;
- its part of the region changed since a tile last looked there: the change is measured on a
  small grey image against a reference that is updated only where tiles ran, so a slow or still
  arrival adds up until a tile has looked at it;
- it is the sweep's turn: ``sweep`` tiles a call, the longest unlooked first, so a person who
  arrived without changing the picture much is still found within a few calls.

The whole-region pass (``tile_full_pass``) runs on every call, as before: people bigger than a
tile, and a coarse look at everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detector.base import Detection

Roi = tuple[int, int, int, int]  # x, y, w, h in frame pixels


@dataclass(frozen=True, slots=True)
class AttentionSettings:
    """``enabled`` and ``sweep`` from the detector section (``tile_attention``, ``tile_sweep``);
    the rest is the attention's own tuning, not a setting of the config."""

    enabled: bool
    sweep: int  # tiles of the rest looked at per call, round robin
    remember_runs: int = 10  # calls a tile keeps running after something was found in it
    work_width: int = 128  # pixels across the region for the change measure
    pixel_delta: int = 18  # grey levels a pixel must change by to count
    min_blob_px: int = 6  # changed pixels (of the small image) a change must have to count
    change_covered: float = 1.0  # share of a change inside a running tile that sees it


SAME_PLACE_IOU = 0.0  # boxes found on different calls that overlap more: the same place


def _overlap(box: Roi, tile: Roi) -> int:
    bx, by, bw, bh = box
    tx, ty, tw, th = tile
    iw = min(bx + bw, tx + tw) - max(bx, tx)
    ih = min(by + bh, ty + th) - max(by, ty)
    return max(0, iw) * max(0, ih)


def _covered(box: Roi, tiles: Sequence[Roi], chosen: set[int], share: float = 1.0) -> bool:
    """True when one of the ``chosen`` tiles holds ``share`` of ``box``."""
    _, _, bw, bh = box
    return any(_overlap(box, tiles[i]) >= share * bw * bh for i in chosen)


def _iou(a: Roi, b: Roi) -> float:
    inter = _overlap(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def tiles_for(box: Roi, tiles: Sequence[Roi], chosen: set[int] | None = None,
              share: float = 1.0) -> list[int]:
    """The tiles that must run to see ``box`` (frame px), none if a ``chosen`` one holds
    ``share`` of it: the one that holds most of it (nearest centre on a tie); for a box bigger
    than a tile, tiles one by one, most of what is left first, until it is covered."""
    chosen = chosen or set()
    bx, by, bw, bh = box
    if _covered(box, tiles, chosen, share):
        return []
    touching = [i for i, t in enumerate(tiles) if _overlap(box, t) > 0]
    if not touching:
        return []
    cx, cy = bx + bw / 2, by + bh / 2

    def key(i: int) -> tuple[int, float]:
        tx, ty, tw_, th_ = tiles[i]
        return (-_overlap(box, tiles[i]), (tx + tw_ / 2 - cx) ** 2 + (ty + th_ / 2 - cy) ** 2)

    tw, th = tiles[touching[0]][2:]
    if bw <= tw and bh <= th:
        return [min(touching, key=key)]
    # bigger than a tile: cover it on a coarse mask of the box, greedily
    step = max(1, min(bw, bh) // 16)
    xs, ys = np.arange(bx, bx + bw, step), np.arange(by, by + bh, step)
    px, py = np.meshgrid(xs, ys)
    left = np.ones(px.shape, bool)
    for i in chosen:
        tx, ty, tw_, th_ = tiles[i]
        left &= ~((px >= tx) & (px < tx + tw_) & (py >= ty) & (py < ty + th_))
    out: list[int] = []
    while left.any():
        gains = []
        for i in touching:
            tx, ty, tw_, th_ = tiles[i]
            inside = (px >= tx) & (px < tx + tw_) & (py >= ty) & (py < ty + th_)
            gains.append((int(np.count_nonzero(left & inside)), i, inside))
        gain, i, inside = max(gains, key=lambda g: g[0])
        if gain == 0:
            break
        out.append(i)
        left &= ~inside
    return out


class TileAttention:
    """Chooses the tiles to run; remembers where it found things and what it last saw."""

    def __init__(self, s: AttentionSettings) -> None:
        self.s = s
        self._grid: tuple[Roi, tuple[Roi, ...]] | None = None
        self.reset()

    def reset(self) -> None:
        self._ref: np.ndarray | None = None
        self._found: list[tuple[Roi, int]] = []  # box in frame px, call it was found on
        self._last_run: dict[int, int] = {}
        self._call = 0
        self._small: np.ndarray | None = None

    def _to_small(self, region: np.ndarray) -> np.ndarray:
        grey = region if region.ndim == 2 else cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape[:2]
        sw = min(self.s.work_width, w)
        small = cv2.resize(grey, (sw, max(1, round(h * sw / w))), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (3, 3), 0)

    def _changes(self, small: np.ndarray, roi: Roi) -> list[Roi]:
        """Boxes (frame px) of the parts that differ from what the tiles last saw."""
        assert self._ref is not None
        changed = (cv2.absdiff(small, self._ref) > self.s.pixel_delta).astype(np.uint8)
        if not changed.any():
            return []
        changed = cv2.dilate(changed, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        x0, y0, rw, rh = roi
        sh, sw = small.shape
        fx, fy = rw / sw, rh / sh
        out = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area >= self.s.min_blob_px:
                out.append((x0 + int(x * fx), y0 + int(y * fy), max(1, int(np.ceil(w * fx))),
                            max(1, int(np.ceil(h * fy)))))
        return out

    def select(self, region: np.ndarray, roi: Roi, tiles: Sequence[Roi]) -> list[int]:
        """Indices of the tiles to run on this call (all of them when attention is off)."""
        grid = (roi, tuple(tiles))
        if grid != self._grid:  # another profile or frame size: start over
            self._grid = grid
            self.reset()
        self._call += 1
        if not self.s.enabled or len(tiles) < 2:
            return list(range(len(tiles)))
        small = self._to_small(region)
        self._small = small
        if self._ref is None or self._ref.shape != small.shape:
            return list(range(len(tiles)))  # nothing seen yet: look everywhere
        chosen: set[int] = set()
        # where things were found, newest first; an older box where a newer one is (the same
        # person, a moment before) adds nothing
        recent: list[Roi] = []
        for box, call in sorted(self._found, key=lambda f: -f[1]):
            if self._call - call <= self.s.remember_runs and all(
                    _iou(box, b) <= SAME_PLACE_IOU for b, c in self._found if c > call):
                recent.append(box)
        for box in recent:
            chosen.update(tiles_for(box, tiles, chosen))
        # a change mostly inside a tile that runs anyway is seen by it (usually the found
        # person moving); the whole-region pass sees the rest of it
        for box in self._changes(small, roi):
            chosen.update(tiles_for(box, tiles, chosen, self.s.change_covered))
        rest = sorted((i for i in range(len(tiles)) if i not in chosen),
                      key=lambda i: self._last_run.get(i, -1))
        chosen.update(rest[: self.s.sweep])
        return sorted(chosen)

    def ran(self, roi: Roi, tiles: Sequence[Roi], chosen: Sequence[int],
            found: Sequence[Detection], frame_wh: tuple[int, int]) -> None:
        """The chosen tiles ran and found ``found`` (frame fractions): remember both."""
        fw, fh = frame_wh
        for i in chosen:
            self._last_run[i] = self._call
        self._found = [(b, c) for b, c in self._found
                       if self._call - c < self.s.remember_runs]
        self._found += [((int(d.x1 * fw), int(d.y1 * fh), max(1, int(d.width * fw)),
                          max(1, int(d.height * fh))), self._call) for d in found]
        small = self._small
        if small is None:
            return
        if self._ref is None or self._ref.shape != small.shape:
            self._ref = small.copy()
            return
        x0, y0, rw, rh = roi
        sh, sw = small.shape
        for i in chosen:
            tx, ty, tw, th = tiles[i]
            sx1, sy1 = int((tx - x0) * sw / rw), int((ty - y0) * sh / rh)
            sx2 = int(np.ceil((tx - x0 + tw) * sw / rw))
            sy2 = int(np.ceil((ty - y0 + th) * sh / rh))
            self._ref[sy1:sy2, sx1:sx2] = small[sy1:sy2, sx1:sx2]
