"""The detector front-end's parts without a model: tiles, merging, the zone crop, the light
meter and enhancement, detection matching, and the config that drives them."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from detector.base import Detection
from detector.enhance import (
    EnhanceMethod,
    EnhanceMode,
    Enhancer,
    EnhanceSettings,
    brightness,
)
from detector.frontend import (
    CropSettings,
    Profile,
    ZoneDetector,
    cut_by_crop_side,
    low_floor,
    zone_roi,
)
from detector.tiling import TilingSettings, cut_by_inner_edge, drop_cut, merge, tile_grid
from edge.config import ConfigError, DetectorConfig, parse_config
from edge.decision.tracker import Tracker
from edge.runtime.assembly import attention_settings, crop_settings
from sim.scoring import Sample, detection_scores, match_frame, occupancy_scores
from sim.truth import Truth
from tests.helpers import detector_settings, person

ON = TilingSettings(enabled=True, tile_scale=1.0, overlap=0.25, full_pass=True)
DEFAULTS = DetectorConfig()  # the one place the detector's defaults are written


def tiling(enabled: bool, tile_scale: float = 1.0) -> TilingSettings:
    return TilingSettings(enabled, tile_scale, DEFAULTS.tile_overlap, DEFAULTS.tile_full_pass)


def enhance(mode: EnhanceMode = DEFAULTS.enhance,
            method: EnhanceMethod = DEFAULTS.enhance_method) -> EnhanceSettings:
    return EnhanceSettings(mode, method, DEFAULTS.enhance_gamma, DEFAULTS.enhance_clip_limit)


def zone_detector(day: Profile, **profiles: Any) -> ZoneDetector:
    """The front-end on the whole frame with the config's defaults and the given profiles."""
    kw = {"wide": None, "night": None, "wide_above_px": DEFAULTS.wide_above_px,
          "dark_below": DEFAULTS.dark_below, "attention": attention_settings(DEFAULTS),
          **profiles}
    return ZoneDetector(day, (0.0, 0.0, 1.0, 1.0), crop_settings(DEFAULTS), **kw)


@pytest.mark.parametrize("region", [(0, 0, 1920, 1080), (100, 50, 1000, 700), (0, 0, 417, 416)])
def test_tiles_cover_the_region_with_the_overlap(region):
    tiles = tile_grid(region, (416, 416), ON)
    x0, y0, w, h = region
    assert len(tiles) > 1
    covered = np.zeros((h, w), bool)
    for tx, ty, tw, th in tiles:
        assert (tw, th) == (min(416, w), min(416, h))
        assert x0 <= tx and tx + tw <= x0 + w and y0 <= ty and ty + th <= y0 + h
        covered[ty - y0 : ty - y0 + th, tx - x0 : tx - x0 + tw] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    for a, b in itertools.pairwise(xs):
        assert a + 416 - b >= 0.25 * 416 - 1  # neighbours overlap by at least the overlap


def test_one_tile_when_the_region_fits_or_tiling_is_off():
    assert tile_grid((0, 0, 768, 432), (416, 416), tiling(True, 2.0)) == [(0, 0, 768, 432)]
    assert tile_grid((0, 0, 1920, 1080), (416, 416), tiling(False)) == [(0, 0, 1920, 1080)]
    assert len(tile_grid((0, 0, 1920, 1080), (416, 416), tiling(True, 2.0))) == 6


def test_a_person_cut_by_a_tile_edge_yields_to_the_whole_box():
    frame, region, tile = (1000, 1000), (0, 0, 1000, 1000), (0, 0, 500, 500)
    cut = Detection(0.45, 0.1, 0.5, 0.3, 0.9)  # ends at the tile's inner right edge
    whole = Detection(0.45, 0.1, 0.55, 0.3, 0.8)
    assert cut_by_inner_edge(cut, tile, region, frame, 3)
    assert not cut_by_inner_edge(whole, (250, 0, 500, 500), region, frame, 3)
    assert drop_cut([whole], [cut]) == [whole]
    lone = Detection(0.45, 0.6, 0.5, 0.9, 0.9)  # nobody else saw this one: kept
    assert drop_cut([whole], [lone]) == [whole, lone]
    # the frame's own edge is not a tile's inner edge
    assert not cut_by_inner_edge(Detection(0.0, 0.1, 0.05, 0.3, 0.9), tile, region, frame, 3)


def test_merge_keeps_one_box_per_person():
    a, b = Detection(0.1, 0.1, 0.2, 0.4, 0.9), Detection(0.101, 0.1, 0.2, 0.41, 0.7)
    c = Detection(0.5, 0.1, 0.6, 0.4, 0.8)
    assert merge([a, b, c], 0.5, (1920, 1080)) == [a, c]


def test_zone_crop_holds_the_zone_its_margins_and_head_room():
    s = CropSettings(enabled=True, margin=0.05, head_room=0.35, max_area=0.5)
    assert zone_roi((0.0, 0.0, 1.0, 1.0), (1280, 720), s) == (0, 0, 1280, 720)
    x, y, w, h = zone_roi((0.4, 0.6, 0.6, 0.9), (1280, 720), s)
    assert x <= 0.35 * 1280 and x + w >= 0.65 * 1280
    assert y <= (0.6 - 0.4) * 720 + 1 and y + h >= 0.95 * 720 - 1
    assert x >= 0 and x + w <= 1280 and y >= 0 and y + h <= 720
    assert w == h  # widened to the square input of both models
    # too big to be worth it, or switched off: the whole frame
    assert zone_roi((0.0, 0.5, 0.6, 1.0), (640, 480), s) == (0, 0, 640, 480)
    off = CropSettings(False, 0.05, 0.35, 0.5)
    assert zone_roi((0.4, 0.6, 0.6, 0.9), (1280, 720), off) == (0, 0, 1280, 720)


def test_a_box_cut_by_the_crop_side_is_not_a_person_in_the_zone():
    roi, frame = (400, 100, 400, 400), (1280, 720)
    assert cut_by_crop_side(Detection(0.55, 0.2, 800 / 1280, 0.6, 0.9), roi, frame)
    assert not cut_by_crop_side(Detection(0.4, 0.2, 0.5, 0.6, 0.9), roi, frame)
    # a crop that reaches the frame's side: boxes there are the frame's, not the crop's
    assert not cut_by_crop_side(Detection(0.0, 0.2, 0.1, 0.6, 0.9), (0, 0, 400, 400), frame)


def test_brightness_and_enhancement_on_colour_and_infrared():
    dark = np.full((200, 300, 3), 30, np.uint8)
    dark[50:150, 100:200] = 60
    assert brightness(dark) == pytest.approx((30 * 5 + 60) / 6 / 255, abs=0.01)
    assert brightness(np.full((10, 10), 255, np.uint8)) == pytest.approx(1.0)
    ramp = np.random.default_rng(7).integers(10, 40, (200, 300), dtype=np.uint8)  # dark, textured
    night = np.dstack([ramp, ramp, ramp])
    for method in EnhanceMethod:
        e = Enhancer(enhance(EnhanceMode.DARK, method))
        assert e.wanted(dark=True) and not e.wanted(dark=False)
        for image in (night, ramp):  # colour, and one channel (infrared) in and out
            out = e.apply(image)
            assert out.shape == image.shape
            if method is EnhanceMethod.GAMMA:  # lifts the shadows
                assert out.mean() > image.mean() + 20
            else:  # spreads the few grey levels there are
                assert out.std() > 1.5 * image.std()
    assert not Enhancer(enhance(EnhanceMode.OFF)).wanted(dark=True)
    assert Enhancer(enhance(EnhanceMode.ALWAYS)).wanted(dark=False)


def test_matching_rules_of_detection_scores():
    counted = [(0, 0, 10, 20), (100, 0, 110, 20)]
    ignored = [(200, 0, 210, 20)]
    dets = [
        (0, 0, 10, 20, 0.9),  # matches the first person
        (0, 1, 10, 21, 0.8),  # a second box on the same person: false
        (200, 0, 210, 20, 0.7),  # a person who does not count: neither right nor wrong
        (300, 0, 310, 20, 0.6),  # nobody there: false
        (103, 0, 113, 20, 0.5),  # IoU 7*20 / (13*20) = 0.54 with the second person: right
    ]
    m = match_frame(dets, counted, ignored)
    assert len(m.matched) == 2 and len(m.false) == 2 and m.missed == []
    s = detection_scores([m, match_frame([], counted, [])])
    assert s["truth_boxes"] == 4 and s["recall"] == 0.5 and s["precision"] == 0.5
    low = match_frame([(104, 0, 114, 20, 0.9)], counted, [])  # IoU 0.43: no match
    assert low.missed == [counted[0], counted[1]] and len(low.false) == 1


def test_a_still_is_judged_once_on_its_last_frame():
    truth = Truth("frames", 0.0, per_still={"a": 1, "b": 0})
    samples = [Sample(t, i, p, occ, 0, False, 1.0, 1.0, tr) for t, i, p, occ, tr in [
        (0.0, 1, "a", False, True), (0.5, 1, "a", True, True),
        (1.0, 2, "b", False, False), (1.5, 2, "b", False, False)]]
    s = occupancy_scores(samples, truth)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (1, 0, 0, 1)


def test_profile_config():
    cfg = parse_config({"detector": {"night": None, "wide": {"score_threshold": 0.6}}})
    assert cfg.detector.night is None and cfg.detector.wide.score_threshold == 0.6
    assert cfg.detector.wide.backend is None  # not given: the detector's own
    off = parse_config({"detector": {"enhance": False, "night": {"enhance": False}}})
    assert off.detector.enhance.value == "off" == off.detector.night.enhance.value  # YAML's off
    default = parse_config({})
    assert default.detector.night.backend.value == "yolox"
    for bad in ({"tile_scale": 0.5}, {"night": {"color": 1}}, {"dark_below": 1.5},
                {"enhance": "sometimes"}):
        with pytest.raises(ConfigError):
            parse_config({"detector": bad})


def test_a_lost_track_walking_out_at_the_picture_side_has_left_it():
    tr = Tracker(max_missed_s=2.0, match_distance=1.0, confirm_hits=2)
    inside = person(0.5, 0.8)
    for t, x in ((0.0, 0.12), (0.2, 0.08), (0.4, 0.04)):  # walking left, out of the picture
        tr.update([person(x, 0.8, w=0.08), inside], t)
    alive = tr.update([], 0.6)
    assert len(alive) == 1 and alive[0].box == inside  # the one inside coasts on


def test_a_person_standing_at_the_picture_side_keeps_coasting():
    tr = Tracker(max_missed_s=2.0, match_distance=1.0, confirm_hits=2)
    at_edge = person(0.04, 0.8, w=0.08)
    for t in (0.0, 0.2, 0.4):
        tr.update([at_edge], t)
    assert len(tr.update([], 0.6)) == 1  # a zone may reach the side: still there


class _Fake:
    """A stand-in back-end: one box in the middle of whatever image it is given."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.input_size, self.runs = name, (size, size), 0
        self.settings = detector_settings(score_threshold=0.1, min_box_height=0.0)

    def invoke_raw(self, image, times):
        self.runs += 1
        times.invokes += 1
        return [Detection(0.4, 0.2, 0.6, 0.9, 0.45)]

    def close(self) -> None:
        pass


def _profile(name: str, det: _Fake, score: float, tiles: bool = False,
             mode: EnhanceMode = EnhanceMode.OFF) -> Profile:
    return Profile(name, det, score, tiling(tiles), Enhancer(enhance(mode)), score_floor=score)


def test_profiles_by_light_and_region_size():
    ssd, yolox = _Fake("ssd", 300), _Fake("yolox", 416)
    zd = zone_detector(_profile("day", ssd, 0.5),
                       wide=_profile("wide", yolox, 0.4, tiles=True), wide_above_px=960,
                       night=_profile("night", yolox, 0.4, mode=EnhanceMode.DARK),
                       dark_below=0.3)
    light, dark = np.full((432, 768, 3), 140, np.uint8), np.full((432, 768, 3), 40, np.uint8)
    r = zd.detect(light)
    assert zd.stats.profile == "day" and r.detections == []  # 0.45 is under the day's 0.5
    r = zd.detect(dark)
    assert zd.stats.profile == "night" and zd.stats.enhanced and len(r.detections) == 1
    # hysteresis: just above the threshold is still night, clearly above is day again
    zd.detect(np.full((432, 768, 3), int(0.31 * 255), np.uint8))
    assert zd.stats.profile == "night"
    zd.detect(light)
    assert zd.stats.profile == "day"
    r = zd.detect(np.full((1080, 1920), 140, np.uint8))  # one channel, and wide
    assert zd.stats.profile == "wide" and zd.stats.tiles > 1 and r.times.invokes == zd.stats.tiles
    assert zd.stats.counts == {"day": 2, "night": 2, "wide": 1} and zd.stats.dark_frames == 2


def test_boxes_between_floor_and_threshold_go_to_the_tracker_only():
    """The day profile confirms at 0.5 with a floor of 0.3: the fake's 0.45 box is low, not a
    person; every box carries its crop's 8x16 grey signature, which follows the picture."""
    ssd = _Fake("ssd", 300)
    day = Profile("day", ssd, 0.5, tiling(False), Enhancer(enhance()), score_floor=0.3)
    zd = zone_detector(day)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (432, 768, 3), dtype=np.uint8)
    r = zd.detect(frame)
    assert r.detections == [] and len(r.low) == 1 and r.low[0].score == 0.45
    assert len(r.low[0].signature) == 8 * 16
    again = zd.detect(frame.copy())
    other = zd.detect(rng.integers(0, 256, (432, 768, 3), dtype=np.uint8))
    assert again.low[0].signature == r.low[0].signature
    assert other.low[0].signature != r.low[0].signature
    above = Profile("day", ssd, 0.4, tiling(False), Enhancer(enhance()),
                    score_floor=low_floor(0.4, 0.3))
    r = zone_detector(above).detect(frame)
    assert len(r.detections) == 1 and r.low == []


def test_score_floor_config_per_profile():
    cfg = parse_config({"detector": {"score_floor": 0.2, "night": {"score_floor": 0.1}}})
    assert cfg.detector.score_floor == 0.2 and cfg.detector.night.score_floor == 0.1
    assert parse_config({}).detector.night.score_floor == 0.25
    with pytest.raises(ConfigError, match="score_floor"):
        parse_config({"detector": {"score_floor": 1.5}})
