"""What the pipeline calls per frame: crop to the zone, meter the light, pick the day or night
profile, enhance dark pictures, run the model once or over tiles, merge, and filter.

The back-ends (``ssd``, ``yolox``) only know how to run their model on one image; everything that
depends on the stop (its zone, its light, how far away its people are) lives here, once for all
back-ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import structlog

from detector.attention import AttentionSettings, TileAttention
from detector.backend import ModelDetector, Roi, RuntimeInfo, as_bgr, to_frame
from detector.base import BUS, SIGNATURE_WH, Detection, DetectorResult, StageTimes
from detector.enhance import Enhancer, brightness
from detector.tiling import (
    CUT_EDGE_PX,
    TilingSettings,
    cut_by_inner_edge,
    drop_cut,
    merge,
    tile_grid,
)

log = structlog.get_logger("stopsafe.detector")

DARK_HYSTERESIS = 0.03  # of the luma: a dark region is light again only this far above the limit


@dataclass(frozen=True, slots=True)
class CropSettings:
    """Run the detector on the zone's bounding box (plus a margin) instead of the whole frame
    (``detector.crop_*``)."""

    enabled: bool
    margin: float  # of the frame's width and height, on every side
    head_room: float  # of the frame's height above the zone: bodies stand above their feet
    max_area: float  # crop only when the crop is at most this fraction of the frame's area


def _grow(lo: int, hi: int, size: int, limit: int) -> tuple[int, int]:
    """Widen [lo, hi) to ``size`` around its centre, shifted to stay inside [0, limit)."""
    size = min(size, limit)
    lo = max(0, min(limit - size, (lo + hi - size) // 2))
    return lo, lo + size


def zone_roi(bounds: tuple[float, float, float, float], frame_wh: tuple[int, int],
             s: CropSettings, aspect: float = 1.0) -> Roi:
    """The region the detector looks at, in frame pixels (the whole frame when not worth it).

    The zone's box with its margins is widened (or heightened) towards the model's input
    ``aspect`` (w/h), as far as the frame allows: a narrow crop squeezed into a square input
    would make people fat and the detector unsure.
    """
    fw, fh = frame_wh
    whole = (0, 0, fw, fh)
    if not s.enabled:
        return whole
    x1, y1, x2, y2 = bounds
    x1, x2 = max(0.0, x1 - s.margin), min(1.0, x2 + s.margin)
    y1, y2 = max(0.0, y1 - s.margin - s.head_room), min(1.0, y2 + s.margin)
    px1, py1 = int(x1 * fw), int(y1 * fh)
    px2, py2 = min(fw, int(np.ceil(x2 * fw))), min(fh, int(np.ceil(y2 * fh)))
    w, h = max(1, px2 - px1), max(1, py2 - py1)
    if w < h * aspect:
        px1, px2 = _grow(px1, px2, round(h * aspect), fw)
    else:
        py1, py2 = _grow(py1, py2, round(w / aspect), fh)
    if (px2 - px1) * (py2 - py1) > s.max_area * fw * fh:
        return whole
    return px1, py1, px2 - px1, py2 - py1


def cut_by_crop_side(d: Detection, roi: Roi, frame_wh: tuple[int, int]) -> bool:
    """True when box ``d`` ends at a left or right edge of the crop that is not the frame's.

    Such a box is a person partly outside the crop; its standing point is pulled inwards, so
    it could put someone walking beside the zone into it. The margins keep anyone who really
    stands in the zone whole inside the crop.
    """
    fw = frame_wh[0]
    x0, _, rw, _ = roi
    tol = max(3.0, 0.01 * rw)
    return bool((x0 > 0 and d.x1 * fw <= x0 + tol)
                or (x0 + rw < fw and d.x2 * fw >= x0 + rw - tol))


def crop_signature(frame: np.ndarray, d: Detection) -> bytes:
    """The box's pixels as an ``SIGNATURE_WH`` grey thumbnail (one byte a pixel): enough to see
    whether the picture inside a box changes over minutes (0.4 ms a box on the 2-core test
    machine under a load of 8; a frame's model run is 8 ms unloaded)."""
    import cv2

    fh, fw = frame.shape[:2]
    x1, y1 = max(0, int(d.x1 * fw)), max(0, int(d.y1 * fh))
    x2 = min(fw, max(x1 + 1, round(d.x2 * fw)))
    y2 = min(fh, max(y1 + 1, round(d.y2 * fh)))
    small = cv2.resize(frame[y1:y2, x1:x2], SIGNATURE_WH, interpolation=cv2.INTER_AREA)
    if small.ndim == 3 and small.shape[2] == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)  # after the resize: 128 pixels, not all
    elif small.ndim == 3:
        small = small[:, :, 0]
    return np.ascontiguousarray(small).tobytes()


def with_signature(d: Detection, frame: np.ndarray) -> Detection:
    return replace(d, signature=crop_signature(frame, d))


def low_floor(score_threshold: float, score_floor: float) -> float:
    """The lowest score a profile keeps: its floor, never above its confirming threshold (a floor
    at or above the threshold means no low boxes). The one place this rule is written."""
    return min(score_threshold, score_floor)


@dataclass(slots=True)
class Profile:
    """One way of detecting: a model with its thresholds, tiling and enhancement."""

    name: str
    detector: ModelDetector  # may be shared with other profiles, at the lowest floor
    score_threshold: float  # a box at or above it is a person (confirms a track)
    tiling: TilingSettings
    enhancer: Enhancer
    score_floor: float  # low_floor(): boxes from here to the threshold go to the tracker only


@dataclass(slots=True)
class FrontendStats:
    """What the last call did, for logs, the simulator's report and benchmarks."""

    brightness: float = 0.0
    dark: bool = False
    profile: str = ""
    tiles: int = 0  # model runs on the last frame (tiles, plus the whole-region pass)
    grid: int = 0  # tiles in the last frame's grid (runs of a full sweep, less the whole pass)
    enhanced: bool = False
    roi: Roi = (0, 0, 0, 0)
    counts: dict[str, int] = field(default_factory=dict)  # frames per profile
    dark_frames: int = 0
    enhanced_frames: int = 0


class ZoneDetector:
    """The detector the pipeline sees: ``detect(frame)`` does crop, light, tiles and merge.

    Three profiles: ``day`` (the detector's own settings), ``wide`` for a region whose longer
    side is over ``wide_above_px`` (its people are small: by default YOLOX on tiles), and
    ``night`` for dark frames. A frame is dark when the mean luma of the region is below
    ``dark_below``; it is light again only above ``dark_below + DARK_HYSTERESIS``, so a dusk scene
    near the threshold does not make the profiles alternate frame by frame.
    """

    def __init__(self, day: Profile, zone_bounds: tuple[float, float, float, float],
                 crop: CropSettings, *, wide: Profile | None, wide_above_px: int,
                 night: Profile | None, dark_below: float,
                 attention: AttentionSettings, bus_floor: float | None = None) -> None:
        """``bus_floor``: also look for buses (COCO ``bus``) on the whole frame, with the day
        profile's model, every call, keeping boxes scored at least this (the kerb zone); from
        the person pass's own run when that is the day model on the whole, unenhanced frame,
        else from one more run."""
        self.day, self.wide, self.night = day, wide, night
        self.wide_above_px = wide_above_px
        self.zone_bounds = zone_bounds
        self.crop = crop
        self.dark_below = dark_below
        self.attention = TileAttention(attention)
        self.name = day.detector.name
        self.stats = FrontendStats()
        self._dark = False
        self._rois: dict[tuple[int, int], Roi] = {}
        self.bus_floor = bus_floor

    @property
    def settings(self) -> Any:
        return self.day.detector.settings

    @property
    def runtime(self) -> RuntimeInfo:
        """What runs the day profile's model: the stop's detector as logs, selftest, bench and
        telemetry name it."""
        return self.day.detector.info

    def runtimes(self) -> dict[str, RuntimeInfo]:
        """What runs each profile's model (back-end, runtime with version, provider)."""
        return {p.name: p.detector.info for p in (self.day, self.wide, self.night)
                if p is not None}

    def roi(self, frame_wh: tuple[int, int]) -> Roi:
        if frame_wh not in self._rois:
            iw, ih = self.day.detector.input_size
            roi = zone_roi(self.zone_bounds, frame_wh, self.crop, iw / ih)
            self._rois[frame_wh] = roi
            log.info("detector_region", frame_w=frame_wh[0], frame_h=frame_wh[1], x=roi[0],
                     y=roi[1], w=roi[2], h=roi[3], cropped=roi != (0, 0, *frame_wh))
        return self._rois[frame_wh]

    def set_zone(self, zone_bounds: tuple[float, float, float, float]) -> None:
        """A reloaded zone: the crop is cut around it from the next frame on, and the tiles'
        memory and the light meter's hysteresis (of another region) start afresh, as on a fresh
        start."""
        if zone_bounds == self.zone_bounds:
            return
        self.zone_bounds = zone_bounds
        self._rois.clear()
        self._dark = False
        self.attention.reset()

    def _is_dark(self, level: float) -> bool:
        limit = self.dark_below + (DARK_HYSTERESIS if self._dark else 0.0)
        return level < limit

    def detect(self, frame: np.ndarray) -> DetectorResult:
        times = StageTimes()
        t0 = time.perf_counter()
        fh, fw = frame.shape[:2]
        roi = self.roi((fw, fh))
        x0, y0, rw, rh = roi
        region = frame[y0 : y0 + rh, x0 : x0 + rw]
        if region.ndim == 3 and region.shape[2] == 1:
            region = region[:, :, 0]
        raw_region = region
        level = brightness(region)
        dark = self._is_dark(level)
        if dark != self._dark:
            log.info("light_level_changed", dark=dark, brightness=round(level, 3),
                     threshold=self.dark_below)
        self._dark = dark
        profile = self.day
        if dark and self.night is not None:
            profile = self.night
        elif self.wide is not None and max(rw, rh) > self.wide_above_px:
            profile = self.wide
        enhanced = profile.enhancer.wanted(dark)
        if enhanced:
            region = profile.enhancer.apply(region)
        region = as_bgr(region)
        times.preprocess_ms += (time.perf_counter() - t0) * 1e3

        det = profile.detector
        tiles = tile_grid(roi, det.input_size, profile.tiling)
        tiled = len(tiles) > 1
        chosen = self.attention.select(raw_region, roi, tiles) if tiled else [0]
        run = [tiles[i] for i in chosen]
        passes = [*run, roi] if tiled and profile.tiling.full_pass else run
        whole: list[Detection] = []
        cut: list[Detection] = []
        buses: list[Detection] | None = None  # not looked for yet
        # a pass of the day model on the whole, unenhanced frame is the bus pass's own input
        bus_pass = ((0, 0, fw, fh) if self.bus_floor is not None and det is self.day.detector
                    and not enhanced else None)
        for tile in passes:
            tx, ty, tw, th = tile
            image = region[ty - y0 : ty - y0 + th, tx - x0 : tx - x0 + tw]
            if tile == bus_pass and self.bus_floor is not None:
                raw, buses = det.invoke_with_class(image, BUS, self.bus_floor, times)
            else:
                raw = det.invoke_raw(image, times)
            t1 = time.perf_counter()
            for d in to_frame(raw, tile, (fw, fh)):
                is_cut = tiled and cut_by_inner_edge(d, tile, roi, (fw, fh), CUT_EDGE_PX)
                (cut if is_cut else whole).append(d)
            times.decode_ms += (time.perf_counter() - t1) * 1e3
        t2 = time.perf_counter()
        cropped = roi != (0, 0, fw, fh)
        thr, floor = profile.score_threshold, profile.score_floor

        def kept(lo: float, hi: float) -> list[Detection]:
            """Boxes scored in [lo, hi), merged across tiles among themselves and filtered
            (a box under the threshold never suppresses a person's)."""
            w = [d for d in whole if lo <= d.score < hi]
            c = [d for d in cut if lo <= d.score < hi]
            boxes = merge(drop_cut(w, c), det.settings.nms_iou, (fw, fh)) if tiled else w
            return [with_signature(d, frame) for d in boxes if det.settings.accepts(d)
                    and not (cropped and cut_by_crop_side(d, roi, (fw, fh)))]

        strong = kept(thr, float("inf"))
        low = kept(floor, thr) if floor < thr else []
        if tiled:
            self.attention.ran(roi, tiles, chosen, [*strong, *low], (fw, fh))
        times.decode_ms += (time.perf_counter() - t2) * 1e3

        s = self.stats
        s.brightness, s.dark, s.profile, s.tiles, s.enhanced, s.roi = (
            level, dark, profile.name, len(passes), enhanced, roi)
        s.grid = len(tiles) if tiled else 0
        s.counts[profile.name] = s.counts.get(profile.name, 0) + 1
        s.dark_frames += dark
        s.enhanced_frames += enhanced
        if buses is None and self.bus_floor is not None:
            buses = self.day.detector.class_boxes(as_bgr(frame), BUS, self.bus_floor, times)
        return DetectorResult(strong, times, low, buses or [])

    def close(self) -> None:
        done: list[ModelDetector] = []
        for p in (self.day, self.wide, self.night):
            if p is not None and all(p.detector is not d for d in done):
                p.detector.close()
                done.append(p.detector)
