"""Issue 7's hard cases end to end, with the built-in defaults, the real models and the shared
footage: a crowded evening street of small people, night stills (colour and infrared-like grey),
and the earlier scenarios keeping their scores at real-time speed."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edge.config import Config
from edge.runtime.camera import frame_files
from sim.runner import run_scenario
from sim.scenario import load_scenario
from tests.conftest import scenario_path
from tests.helpers import cut_scenario


@pytest.fixture(scope="module")
def defaults(models_dir: Path) -> Config:
    return Config.model_validate({"detector": {"models_dir": str(models_dir)}})


def assert_nobody_static(r: dict) -> None:
    """No real person is taken for a static object, nor comes near it: the longest time any
    person's box and picture stayed unchanged is far below static.after_s."""
    assert r["static"]["frames_with_static_object"] == 0, r["static"]
    assert r["static"]["longest_still_s"] < Config().static.after_s / 10, r["static"]


def test_mot17_04_small_people_found_and_drawn(defaults: Config, tmp_path: Path):
    r = run_scenario(load_scenario(scenario_path("mot17-04")), defaults, report_dir=tmp_path)
    d = r["detection"]
    assert d["truth_boxes"] > 150  # ~25 counted people in each of the 8 frames
    assert d["recall"] >= 0.75 and d["precision"] >= 0.8, d
    assert r["perf"]["profiles"] == {"wide": 8}  # a 1920 px frame: YOLOX on tiles
    assert r["perf"]["invokes_per_frame"] > 1
    assert_nobody_static(r)
    pictures = [Path(p) for k, p in r["report"].items() if k.startswith("detections_")]
    assert len(pictures) == 3
    for p in pictures:
        img = cv2.imread(str(p))
        assert img is not None and img.shape[:2] == (1080, 1920)


def test_llvip_night_stills(defaults: Config):
    r = run_scenario(load_scenario(scenario_path("llvip-night-dev")), defaults)
    assert r["occupancy"]["recall"] >= 0.9, r["occupancy"]
    assert r["perf"]["dark_frames"] == r["frames"]  # every still is metered as dark
    assert r["perf"]["profiles"] == {"night": r["frames"]}
    assert_nobody_static(r)


def test_llvip_night_stills_from_a_one_channel_camera(defaults: Config, tmp_path: Path):
    """The same stills as an infrared or monochrome camera delivers them: one channel."""
    sc = load_scenario(scenario_path("llvip-night-dev"))
    (tmp_path / "img").mkdir()
    for f in frame_files(sc.clip_path):
        grey = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(tmp_path / "img" / f.name), grey)
    assert cv2.imread(str(tmp_path / "img" / f.name), cv2.IMREAD_UNCHANGED).ndim == 2
    (tmp_path / "labels.csv").write_text(sc.truth_path.read_text())
    grey_sc = sc.model_copy(update={"base_dir": tmp_path, "name": "llvip-night-grey"})
    r = run_scenario(grey_sc, defaults)
    assert r["occupancy"]["recall"] >= 0.9, r["occupancy"]


def test_one_by_one_keeps_its_scores_in_real_time(defaults: Config):
    # the detector's defaults against the core's own baseline, every frame looked at (the
    # adaptive rate, on by default, trades a little of this: tests/test_sim.py)
    cfg = defaults.model_copy(deep=True)
    cfg.adaptive.enabled = False
    r = run_scenario(load_scenario(scenario_path("one-by-one")), cfg)
    o, li = r["occupancy"], r["light"]
    # the core's baseline: f1 0.9979 (one frame wrong each way of 566), agreement 0.9983
    assert o["f1"] >= 0.9975 and li["agreement"] >= 0.998, (o, li)
    assert li["missed_waits"] == 0 and li["false_on_s"] == 0.0
    assert li["on_latency_s"]["max"] <= 0.6 + 1e-6
    # real time: the 139 s clip's frames at 5 a second are processed faster than they come
    assert r["perf"]["fps"] >= 5.0, r["perf"]


@pytest.mark.parametrize("crop", [True, False])
def test_tud_campus_keeps_its_scores_with_and_without_the_crop(defaults: Config, crop: bool):
    cfg = defaults.model_copy(deep=True)
    cfg.detector.crop_to_zone = crop
    r = run_scenario(load_scenario(scenario_path("tud-campus")), cfg)
    # the bar is f1 >= 0.95; measured 0.971 (2 of 70 frames) with the SSD's bilinear
    # resize, the one it was trained with
    assert r["occupancy"]["f1"] >= 0.95 and r["light"]["agreement"] >= 0.978, r
    assert_nobody_static(r)


@pytest.mark.parametrize("day_model", ["ssd", "yolox"])
def test_an_empty_car_park_never_lights(defaults: Config, day_model: str):
    """Cars drive in and out of a car park seen from above; nobody is there. With the defaults
    and with YOLOX-nano (the night and wide model, which takes a hydrant for a person) as the
    day detector, the light stays off."""
    cfg = defaults.model_copy(deep=True)
    if day_model == "yolox":
        cfg.detector.backend = cfg.detector.backend.YOLOX
        cfg.detector.model = "yolox_nano_fp16.tflite"
    r = run_scenario(load_scenario(scenario_path("intel-carpark-empty")), cfg)
    assert r["frames"] > 140
    assert r["light"]["switches"] == 0 and r["light"]["false_on_s"] == 0.0, r["light"]
    assert r["occupancy"]["fp"] == 0, r["occupancy"]
    assert not r["faults"]["raised"]


def test_the_crop_runs_the_detector_on_the_zone(defaults: Config):
    """A zone on the right of the evening street: the detector looks only at its
    neighbourhood, once a frame instead of on tiles, and sees the same occupancy."""
    sc = load_scenario(scenario_path("mot17-04"))
    sc = sc.model_copy(update={"zone": [(0.6, 0.2), (0.9, 0.2), (0.9, 0.6), (0.6, 0.6)]})
    runs = {}
    for crop in (True, False):
        cfg = defaults.model_copy(deep=True)
        cfg.detector.crop_to_zone = crop
        runs[crop] = run_scenario(sc, cfg)
    cropped, whole = runs[True], runs[False]
    assert cropped["perf"]["profiles"] == {"day": 8}  # the crop is small enough for one run
    assert whole["perf"]["profiles"] == {"wide": 8}
    assert cropped["perf"]["invokes_per_frame"] == 1 < whole["perf"]["invokes_per_frame"]
    keys = ("tp", "fp", "fn", "tn")
    assert [cropped["occupancy"][k] for k in keys] == [whole["occupancy"][k] for k in keys]
    assert cropped["occupancy"]["tp"] >= 7


def test_tiles_only_where_people_can_be_on_a_mostly_still_clip(defaults: Config, tmp_path: Path):
    """one-by-one's first 22 s (the first visit) with the wide profile forced onto its
    768 px frames as 6 tiles of YOLOX's own size plus the whole pass: the tiles where people can
    be cost at most half the runs a detector frame of the full sweep, with the same scores. (The
    clip is cut at run time into the test's temporary folder, never committed.)"""
    sc = load_scenario(scenario_path("one-by-one"))
    cut = cut_scenario(sc, tmp_path, 22.0, "start_s,end_s\n6.0,20.2\n")
    runs = {}
    for attention in (True, False):
        cfg = defaults.model_copy(deep=True)
        cfg.detector.wide_above_px = 64
        assert cfg.detector.wide is not None
        cfg.detector.wide.tile_scale = 1.0
        cfg.detector.tile_attention = attention
        runs[attention] = run_scenario(cut, cfg)
    some, every = runs[True], runs[False]
    for r in (some, every):
        assert r["perf"]["profiles"] == {"wide": r["perf"]["detector_frames"]}

    def per_detector_frame(r: dict) -> float:
        return r["perf"]["invocations"] / r["perf"]["detector_frames"]

    assert per_detector_frame(every) == 7.0  # 3 x 2 tiles and the whole pass
    assert per_detector_frame(some) <= 3.5, some["perf"]
    assert some["occupancy"] == every["occupancy"]
    # the light: the same switches' agreement, no missed wait, no false light; the first
    # arrival may be held a frame or two later (tiles find him once the whole pass or his tile
    # has; measured 0.6 s against 0.2 s here), within the 1 s the product allows
    for key in ("agreement", "missed_waits", "false_on_s"):
        assert some["light"][key] == every["light"][key], (key, some["light"], every["light"])
    assert some["light"]["on_latency_s"]["max"] <= 1.0, some["light"]
