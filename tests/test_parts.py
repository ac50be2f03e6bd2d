"""Parts retried from the frame loop (``edge.runtime.parts``): the back-off, and the lamp input
that cannot be set up at start (its pin held by something else) on gpiozero's mock pins."""

from __future__ import annotations

import pytest
from gpiozero import DigitalInputDevice

from detector.base import DetectorResult
from edge.app.compose import assemble
from edge.config import parse_config
from edge.runtime.assembly import build_light
from edge.runtime.faults import Fault
from edge.runtime.parts import Backoff, PartDown, RetryingPart
from sim.scripted import FakeClock, ScriptedSource


def test_backoff_doubles_up_to_its_ceiling():
    b = Backoff(1.0, 5.0)
    assert b.due(0.0)
    assert [b.failed(0.0) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not b.due(4.9) and b.due(5.0)


def test_a_part_says_a_changed_reason_and_clears_its_fault_when_made():
    from edge.runtime.faults import FaultRegistry
    from edge.runtime.pipeline import fault_reporter

    faults, clock = FaultRegistry(), FakeClock()
    report = fault_reporter(faults)
    errors = [FileNotFoundError("cam.mp4 is missing"), PermissionError("cam.mp4: denied")]

    def make() -> str:
        if errors:
            raise errors.pop(0)
        return "camera"

    part = RetryingPart("camera", make, report, Backoff(1.0, 1.0), fault=Fault.CAMERA_LOST,
                        clock=clock)
    assert part.attempt() is None
    assert faults.active()[Fault.CAMERA_LOST].detail == {"error": "cam.mp4 is missing"}
    assert part.attempt() is None  # not due yet: not tried
    assert part.attempts == 1
    clock.t += 1.0
    assert part.attempt() is None
    assert faults.active()[Fault.CAMERA_LOST].detail == {"error": "cam.mp4: denied"}
    clock.t += 1.0
    assert part.attempt() == "camera" and not faults.active()
    down = RetryingPart("model", lambda: 1 / 0, report, Backoff(1.0, 1.0), clock=clock)
    with pytest.raises(PartDown, match="model unavailable: division by zero"):
        down.get()


def test_a_lamp_input_held_at_start_is_a_fault_and_comes_right_without_a_restart():
    cfg = parse_config({"lamp_feedback": {"pin": 22}, "light": {"pin_factory": "mock"},
                        "zone": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}})
    light = build_light(cfg, "mock")
    factory = light.device.pin_factory
    holder = DigitalInputDevice(22, pin_factory=factory)  # another program has the pin
    clock = FakeClock()
    source = ScriptedSource(lambda i: "frame", clock)
    stop = assemble(cfg, source, detect=lambda image: DetectorResult(), light=light,
                    clock=clock, start=0.0, health=False, gate=False,
                    retry=lambda: Backoff(0.5, 0.5))
    try:
        fault = stop.faults.active()[Fault.LAMP_INPUT_FAILED]
        assert "22" in fault.detail["error"], fault.detail
        stop.pipeline.cycle()
        assert stop.faults.is_active(Fault.LAMP_INPUT_FAILED)  # the light works meanwhile
        holder.close()
        for _ in range(5):
            stop.pipeline.cycle()
        assert not stop.faults.is_active(Fault.LAMP_INPUT_FAILED)
        assert stop.feedback.part is not None
    finally:
        stop.close()


def test_a_zone_reload_while_the_model_is_missing_reaches_the_model_built_later(
        models_dir, tmp_path):
    import shutil

    from edge.runtime.assembly import zone_bounds

    empty = tmp_path / "models"
    empty.mkdir()
    model = "ssd_mobilenet_v1_coco_quant.tflite"
    zone = {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    cfg = parse_config({"detector": {"models_dir": str(empty), "wide": None, "night": None},
                        "light": {"pin_factory": "mock"}, "zone": zone})
    clock = FakeClock()
    stop = assemble(cfg, ScriptedSource(lambda i: "frame", clock), clock=clock, start=clock.t,
                    health=False, gate=False, pin_factory="mock",
                    retry=lambda: Backoff(0.5, 0.5))
    try:
        assert stop.faults.active()[Fault.MODEL_FAILED].detail["problem"] == "missing"
        moved = cfg.model_copy(update={"zone": cfg.zone.model_copy(update={"polygon": [
            (0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)]})})
        stop.apply_reload(stop.prepare_reload(moved))  # the crop of a detector not built yet
        shutil.copy(models_dir / model, empty / model)
        for _ in range(5):
            stop.pipeline.cycle()
        assert not stop.faults.is_active(Fault.MODEL_FAILED)
        assert stop.detector.part is not None
        assert stop.detector.zone_bounds == stop.detector.part.zone_bounds == zone_bounds(moved)
    finally:
        stop.close()
