"""Tiled inference: cut a region into overlapping tiles near the model's input size, merge by NMS.

A detector resizes whatever it is given to its input (300 or 416 px), so on a 1920 px frame a
person 120 px tall shrinks to under 20 px, below what the small models find. Tiles of about the
input size (``tile_scale`` times it, in frame pixels) keep people near their own size; the
overlap must be wider than a person so that everyone lies whole in at least one tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from detector.base import Detection

Roi = tuple[int, int, int, int]  # x, y, w, h in pixels


@dataclass(frozen=True, slots=True)
class TilingSettings:
    """From the detector section (``detector.tiling``, ``tile_*``, a profile's overrides)."""

    enabled: bool
    tile_scale: float  # tile side = model input side x this, in frame pixels
    overlap: float  # of the tile side
    full_pass: bool  # also run once on the whole region, for people bigger than a tile


CUT_EDGE_PX = 3  # a box this close to an inner tile edge is cut by it


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    """Evenly spread tile starts along one axis covering 0..length exactly."""
    if length <= tile:
        return [0]
    step = max(1.0, tile * (1.0 - overlap))
    n = math.ceil((length - tile) / step) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_grid(region: Roi, input_wh: tuple[int, int], s: TilingSettings) -> list[Roi]:
    """The tiles (x, y, w, h in frame px) covering ``region``; one tile when it already fits."""
    x0, y0, rw, rh = region
    if not s.enabled:
        return [region]
    tw = max(1, min(rw, round(input_wh[0] * s.tile_scale)))
    th = max(1, min(rh, round(input_wh[1] * s.tile_scale)))
    if tw >= rw and th >= rh:
        return [region]
    return [(x0 + x, y0 + y, tw, th) for y in _starts(rh, th, s.overlap)
            for x in _starts(rw, tw, s.overlap)]


def cut_by_inner_edge(d: Detection, tile: Roi, region: Roi, frame_wh: tuple[int, int],
                      edge_px: int) -> bool:
    """True when box ``d`` (frame fractions) touches an edge of ``tile`` inside ``region``.

    Such a box is a part of a person that the neighbouring tile sees whole (the overlap is wider
    than a person), and would otherwise survive NMS as a second, smaller box.
    """
    fw, fh = frame_wh
    tx, ty, tw, th = tile
    rx, ry, rw, rh = region
    x1, y1, x2, y2 = d.x1 * fw, d.y1 * fh, d.x2 * fw, d.y2 * fh
    return bool(
        (tx > rx and x1 <= tx + edge_px)
        or (ty > ry and y1 <= ty + edge_px)
        or (tx + tw < rx + rw and x2 >= tx + tw - edge_px)
        or (ty + th < ry + rh and y2 >= ty + th - edge_px)
    )


def _inside(a: Detection, b: Detection) -> float:
    """Share of box ``a``'s area that lies inside box ``b``."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    area = a.width * a.height
    return max(0.0, iw) * max(0.0, ih) / area if area > 0 else 0.0


def drop_cut(whole: list[Detection], cut: list[Detection], inside: float = 0.6
             ) -> list[Detection]:
    """Whole boxes, plus each cut box that no whole box covers.

    A box cut by a tile's inner edge is usually a part of a person another tile sees whole; it
    is dropped then, but kept when nothing else saw that person (someone bigger than a tile).
    """
    return whole + [c for c in cut if not any(_inside(c, w) >= inside for w in whole)]


def merge(dets: list[Detection], iou: float, frame_wh: tuple[int, int]) -> list[Detection]:
    """One box per person across tiles: OpenCV NMS on the boxes in frame pixels."""
    if len(dets) < 2:
        return dets
    fw, fh = frame_wh
    boxes = [[d.x1 * fw, d.y1 * fh, d.width * fw, d.height * fh] for d in dets]
    keep = cv2.dnn.NMSBoxes(boxes, [d.score for d in dets], 0.0, iou)
    return [dets[i] for i in sorted(np.asarray(keep).reshape(-1).tolist())]
