"""Both back-ends on real frames of the shared footage, and the model manifest's checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector.base import Detection
from detector.models import ModelError, fetch_models, verify_model
from detector.registry import create
from sim.truth import read_mot_boxes
from tests.helpers import detector_settings

MODELS = {"ssd": "ssd_mobilenet_v1_coco_quant.tflite", "yolox": "yolox_nano_fp16.tflite"}


def iou(a: Detection, b: tuple[float, float, float, float]) -> float:
    x1, y1 = max(a.x1, b[0]), max(a.y1, b[1])
    x2, y2 = min(a.x2, b[2]), min(a.y2, b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a.width * a.height + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="module")
def one_by_one_frames(shared):
    cap = cv2.VideoCapture(str(shared / "clips/one-by-one/one-by-one-person-detection.mp4"))
    frames = {}
    for i in range(1, 201):
        ok, img = cap.read()
        assert ok
        if i in (20, 150):
            frames[i] = img
    cap.release()
    return frames


@pytest.mark.parametrize("backend", sorted(MODELS))
def test_person_found_in_the_right_place(backend, models_dir, one_by_one_frames):
    det = create(backend, models_dir / MODELS[backend], detector_settings(threads=2))
    # frame 150 (15 s): one person standing at the table, right of centre (checked by eye)
    r = det.detect(one_by_one_frames[150])
    assert len(r.detections) == 1
    d = r.detections[0]
    assert 0.45 < d.x1 < 0.55 and 0.62 < d.x2 < 0.72, d
    assert d.y1 < 0.1 and 0.85 < d.y2 <= 1.0, d
    assert r.times.invokes == 1 and r.times.invoke_ms > 0
    # frame 20 (1.9 s): the room is empty
    assert det.detect(one_by_one_frames[20]).detections == []


@pytest.mark.parametrize("backend", sorted(MODELS))
def test_boxes_match_mot_truth_on_tud_campus(backend, models_dir, shared):
    clip = shared / "clips/tud-campus"
    img = cv2.imread(str(clip / "img1/000010.jpg"))
    h, w = img.shape[:2]
    truth, _ = read_mot_boxes(clip / "gt/gt.txt", {10})
    boxes = [(b.left / w, b.top / h, (b.left + b.width) / w, (b.top + b.height) / h)
             for b in truth]
    det = create(backend, models_dir / MODELS[backend], detector_settings(threads=2))
    dets = det.detect(img).detections
    matched = sum(any(iou(d, b) >= 0.5 for d in dets) for b in boxes)
    assert matched >= 3, f"{backend}: {matched} of {len(boxes)} people found"


def test_grey_infrared_frame_is_accepted(models_dir, one_by_one_frames):
    det = create("ssd", models_dir / MODELS["ssd"], detector_settings(threads=2))
    grey = cv2.cvtColor(one_by_one_frames[150], cv2.COLOR_BGR2GRAY)
    assert len(det.detect(grey).detections) == 1


def test_box_size_filter(models_dir, one_by_one_frames):
    det = create("ssd", models_dir / MODELS["ssd"], detector_settings(max_box_height=0.5))
    assert det.detect(one_by_one_frames[150]).detections == []


def test_missing_model_says_how_to_fetch(tmp_path):
    with pytest.raises(ModelError, match="stopsafe models fetch"):
        verify_model(tmp_path / MODELS["ssd"])


def test_mismatching_model_is_refused(tmp_path, models_dir):
    bad = tmp_path / MODELS["ssd"]
    data = bytearray((models_dir / MODELS["ssd"]).read_bytes())
    data[1000] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its sha256"):
        verify_model(bad)


def test_fetch_copies_verifies_and_refuses(tmp_path, shared):
    dest = tmp_path / "models"
    done = fetch_models(dest, shared / "models", [MODELS["ssd"]])
    assert done == [(MODELS["ssd"], "copied")]
    assert fetch_models(dest, shared / "models", [MODELS["ssd"]]) == [(MODELS["ssd"], "present")]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    data = bytearray((shared / "models" / MODELS["yolox"]).read_bytes())
    data[5000] ^= 0xFF
    (bundle / MODELS["yolox"]).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="refused"):
        fetch_models(dest, bundle, [MODELS["yolox"]])
    assert not (dest / MODELS["yolox"]).exists()
    assert not list(dest.glob(".*"))  # no temp file left behind


def test_yolox_grid_matches_anchor_count(models_dir):
    det = create("yolox", models_dir / MODELS["yolox"], detector_settings())
    out_shape = det.interpreter.get_output_details()[0]["shape"]
    assert det._grid.shape[0] == out_shape[1] == 3549
    assert np.all(det._stride[:2704] == 8) and np.all(det._stride[-169:] == 32)


# a missing model no longer ends the daemon: it runs into its fail-safe with the reason and
# loads the model once it is put in place (tests/test_startup_failsafe.py)
