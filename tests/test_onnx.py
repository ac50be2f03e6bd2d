"""The ``yolox_onnx`` back-end: the same detections as LiteRT's ``yolox`` on real frames, the
provider fallback's one warning, and what bench and selftest say runs the model."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from detector.base import Detection, StageTimes
from detector.onnx import choose_providers
from detector.registry import create
from detector.settings import OnnxProvider, OnnxSettings
from edge import __version__
from tests.conftest import CLIPS, REPO, scenario_path
from tests.helpers import detector_settings

pytest.importorskip("onnxruntime")

TFLITE, ONNX = "yolox_nano_fp16.tflite", "yolox_nano.onnx"
CPU_ONLY = OnnxSettings(providers=(OnnxProvider.CPU,), tensorrt_fp16=True, engine_cache=None)


def _frames() -> list[np.ndarray]:
    """Every 20th frame of the one-by-one clip's first 400, and tud-campus' first stills."""
    cap = cv2.VideoCapture(str(CLIPS / "one-by-one" / "one-by-one-person-detection.mp4"))
    frames = []
    for i in range(400):
        ok, frame = cap.read()
        if not ok:
            break
        if i % 20 == 0:
            frames.append(frame)
    cap.release()
    stills = sorted((CLIPS / "tud-campus" / "img1").glob("*.jpg"))[:60:6]
    return frames + [cv2.imread(str(p)) for p in stills]


def _iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_onnx_gives_litert_yolox_detections_on_shared_frames(models_dir):
    settings = detector_settings(score_threshold=0.25, onnx=CPU_ONLY)
    lite = create("yolox", models_dir / TFLITE, settings)
    onnx = create("yolox_onnx", models_dir / ONNX, settings)
    compared = worst = 0.0
    for frame in _frames():
        a = sorted(lite.invoke_raw(frame, StageTimes()), key=lambda d: -d.score)
        b = sorted(onnx.invoke_raw(frame, StageTimes()), key=lambda d: -d.score)
        # a box scored right at the threshold may be in one list only; every box clearly above
        # it must be in both, at the same place (IoU over 0.5, as sim.scoring matches), scored
        # within 0.01
        for x, y in ((a, b), (b, a)):
            for d in (d for d in x if d.score >= 0.25 + 0.01):
                twin = max(y, key=lambda e: _iou(d, e), default=None)
                assert twin is not None and _iou(d, twin) > 0.5, (d, y)  # the scoring's match
                worst = max(worst, abs(d.score - twin.score))
                compared += 1
    assert compared >= 20  # the frames have people in them
    assert worst <= 0.01, worst


def test_choose_providers_keeps_order_and_falls_back_to_cpu():
    have = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    chosen, missing = choose_providers(
        (OnnxProvider.TENSORRT, OnnxProvider.CUDA, OnnxProvider.CPU), have)
    assert chosen == [OnnxProvider.CUDA, OnnxProvider.CPU] and missing == [OnnxProvider.TENSORRT]
    chosen, missing = choose_providers((OnnxProvider.TENSORRT,), ["CPUExecutionProvider"])
    assert chosen == [OnnxProvider.CPU] and missing == [OnnxProvider.TENSORRT]


def test_missing_provider_falls_back_with_one_warning(models_dir):
    import onnxruntime

    assert "TensorrtExecutionProvider" not in onnxruntime.get_available_providers()
    settings = detector_settings(onnx=OnnxSettings(
        providers=(OnnxProvider.TENSORRT, OnnxProvider.CPU), tensorrt_fp16=True,
        engine_cache=None))
    frame = _frames()[5]
    with capture_logs() as logs:
        det = create("yolox_onnx", models_dir / ONNX, settings)
        for _ in range(3):
            det.detect(frame)
    warned = [e for e in logs if e["log_level"] == "warning"]
    assert len(warned) == 1, warned
    assert warned[0]["event"] == "onnx_provider_missing"
    assert warned[0]["missing"] == ["tensorrt"] and warned[0]["using"] == ["cpu"]
    started = [e for e in logs if e["event"] == "onnx_session"]
    assert started and started[0]["providers"] == ["CPUExecutionProvider"]
    assert det.info.provider == "CPUExecutionProvider"
    assert det.info.runtime == f"onnxruntime {onnxruntime.__version__}"


def test_config_refuses_an_unknown_provider_and_key(tmp_path):
    from edge.config import ConfigError, load_config

    for body in ("detector:\n  onnx:\n    providers: [openvino]\n",
                 "detector:\n  onnx:\n    fp16: true\n"):
        path = tmp_path / "c.yaml"
        path.write_text(body)
        with pytest.raises(ConfigError, match="onnx"):
            load_config(path)


def test_bench_json_names_backend_runtime_and_provider(models_dir, tmp_path):
    cfg = tmp_path / "onnx.yaml"
    cfg.write_text(f"detector:\n  backend: yolox_onnx\n  model: {ONNX}\n  models_dir: "
                   f"{models_dir}\n  onnx: {{providers: [cpu]}}\n  wide: null\n  night: null\n")
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bench", str(scenario_path("tud-campus")), "--json",
         "-c", str(cfg)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    det = doc["detector"]
    assert det["backend"] == "yolox_onnx" and det["provider"] == "CPUExecutionProvider"
    assert det["runtime"].startswith("onnxruntime ") and doc["machine"]["runtime"] == det["runtime"]
    assert set(det["profiles"]) == {"day"}
    assert doc["bare_invoke_ms"]["p50"] > 0


def test_telemetry_versions_name_what_runs_the_model(models_dir, tmp_path):
    """The versions telemetry carries are the built detector's, not the config's guess."""
    from edge.config import load_config
    from edge.mqtt.service import MqttService, memory_outbox
    from edge.runtime.assembly import build_detector
    from tests.helpers import NoRunner

    path = tmp_path / "c.yaml"
    path.write_text(f"detector:\n  backend: yolox_onnx\n  model: {ONNX}\n  models_dir: "
                    f"{models_dir}\n  onnx: {{providers: [cuda, cpu]}}\n  wide: null\n"
                    "  night: null\n")
    cfg = load_config(path)
    detector = build_detector(cfg)
    service = MqttService(memory_outbox(cfg), runner=NoRunner())
    try:
        service.describe_runtime(detector.runtime)
    finally:
        detector.close()
    v = service.versions
    assert v["backend"] == "yolox_onnx" and v["provider"] == "CPUExecutionProvider"
    assert v["runtime"].startswith("onnxruntime ") and v["stopsafe"] == __version__


def test_onnx_on_the_tflite_files_weights_equals_litert(models_dir, tmp_path):
    """Given the very weights of the fp16 TFLite file, the ONNX back-end's raw outputs and
    detections are LiteRT's: what is left between the shipped files is their weights' doing."""
    pytest.importorskip("onnx")
    from sim.fp16_weights import round_weights_to_fp16

    same = round_weights_to_fp16(models_dir / ONNX, tmp_path / "yolox_nano_w16.onnx")
    settings = detector_settings(score_threshold=0.25, onnx=CPU_ONLY)
    lite = create("yolox", models_dir / TFLITE, settings)
    rounded = create("yolox_onnx", same, settings)
    shipped = create("yolox_onnx", models_dir / ONNX, settings)
    gap_rounded = gap_shipped = 0.0
    boxes = 0
    for frame in _frames():
        tensor, meta = lite.preprocess(frame)  # the same letterbox for all three
        out_lite, out_rounded, out_shipped = (d._run(tensor) for d in (lite, rounded, shipped))
        gap_rounded = max(gap_rounded, float(np.abs(out_lite[0] - out_rounded[0]).max()))
        gap_shipped = max(gap_shipped, float(np.abs(out_lite[0] - out_shipped[0]).max()))
        wh = (frame.shape[1], frame.shape[0])
        a = lite.decode(meta, out_lite, wh)
        b = rounded.decode(meta, out_rounded, wh)
        assert len(a) == len(b)
        for x, y in zip(sorted(a, key=lambda d: -d.score), sorted(b, key=lambda d: -d.score),
                        strict=True):
            assert abs(x.score - y.score) < 1e-4 and _iou(x, y) > 0.999, (x, y)
        boxes += len(a)
    assert boxes >= 20
    assert gap_rounded < 1e-3, gap_rounded  # box offsets too, in 416-pixel input units
    assert gap_shipped > 10 * gap_rounded  # the weights are what differs, not the back-end


def test_tensorrt_caches_engines_in_the_state_directory_by_default(tmp_path, monkeypatch):
    from detector.onnx import provider_options
    from edge.config import parse_config

    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    s = parse_config({}).detector.onnx.settings()
    opts = provider_options(OnnxProvider.TENSORRT, s)
    assert opts == {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(tmp_path / "state" / "tensorrt")}
    assert (tmp_path / "state" / "tensorrt").is_dir()
    nowhere = replace(s, engine_cache=None)
    assert provider_options(OnnxProvider.TENSORRT, nowhere)["trt_engine_cache_enable"] \
        is False  # no place given, none made up
    assert provider_options(OnnxProvider.CPU, s) == {}
