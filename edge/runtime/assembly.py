"""A stop's parts built from their config sections: the one place that picks real parts.

Like gpiozero's pin factories: the detector and the relay's pin factory are chosen here, from
the config (or the environment for the pin factory); the runtime settings each part takes are
filled here from its validated section. Wiring the parts into a stop is the composition
layer's (:func:`edge.app.stop.assemble`); the commissioning checks and the simulator build
single parts from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from actuators.light import RelayLight, make_pin_factory
from detector.attention import AttentionSettings
from detector.backend import ModelDetector
from detector.enhance import EnhanceMethod, EnhanceMode, Enhancer, EnhanceSettings
from detector.frontend import CropSettings, Profile, ZoneDetector, low_floor
from detector.models import verify_model
from detector.registry import create
from detector.settings import DetectorSettings
from detector.tiling import TilingSettings
from edge.config import AttentionKind, Config, DetectorConfig, ProfileConfig, pin_factory_name
from edge.decision.controller import ControllerSettings, StopController
from edge.decision.core import CoreSettings
from edge.decision.kerb import KerbSettings
from edge.decision.static import StaticSettings
from edge.decision.zones import Zone
from edge.runtime.faults import Fault
from edge.runtime.picture_health import CameraHealth
from edge.runtime.pipeline import Pipeline

if TYPE_CHECKING:
    import numpy as np

    from detector.base import Detection

log = structlog.get_logger("stopsafe.build")


def detector_settings(d: DetectorConfig, score_threshold: float | None = None
                      ) -> DetectorSettings:
    return DetectorSettings(
        score_threshold=d.score_threshold if score_threshold is None else score_threshold,
        nms_iou=d.nms_iou, min_box_height=d.min_box_height, max_box_height=d.max_box_height,
        max_box_area=d.max_box_area, threads=d.thread_count, kernels=d.kernels,
        onnx=d.onnx.settings(),
    )


@dataclass(frozen=True, slots=True)
class _Spec:
    """One profile's settings: the detector's own with a profile's overrides."""

    name: str
    backend: str
    model: str
    score: float
    floor: float
    tiling: bool
    tile_scale: float
    enhance: EnhanceMode
    method: EnhanceMethod


def _spec(name: str, d: DetectorConfig, o: ProfileConfig | None) -> _Spec:
    o = o or ProfileConfig()
    score = d.score_threshold if o.score_threshold is None else o.score_threshold
    return _Spec(
        name=name, backend=(o.backend or d.backend).value, model=o.model or d.model,
        score=score,
        floor=low_floor(score, d.score_floor if o.score_floor is None else o.score_floor),
        tiling=d.tiling if o.tiling is None else o.tiling, tile_scale=o.tile_scale or d.tile_scale,
        enhance=o.enhance or d.enhance, method=o.enhance_method or d.enhance_method,
    )


def crop_settings(d: DetectorConfig) -> CropSettings:
    return CropSettings(enabled=d.crop_to_zone, margin=d.crop_margin,
                        head_room=d.crop_head_room, max_area=d.crop_max_area)


def attention_settings(d: DetectorConfig) -> AttentionSettings:
    return AttentionSettings(enabled=d.tile_attention, sweep=d.tile_sweep)


def zone_bounds(cfg: Config) -> tuple[float, float, float, float]:
    """The zone's bounding box: what the detector's crop is cut around."""
    return Zone(cfg.zone.polygon).bounds()


def build_detector(cfg: Config) -> ZoneDetector:
    """The configured detector on verified models (raises ModelError with how to fetch them):
    its own settings, the 'wide' and 'night' profiles, and the crop to the zone.

    Profiles on the same model share one interpreter (memory: the box has little), run at the
    lowest of their floors; each profile then keeps only boxes above its own floor, and splits
    them at its own confirming threshold.
    """
    import cv2

    # the interpreter owns the cores; OpenCV's own thread pool on the small per-frame images
    # (resize, colour, motion, health) costs more in hand-offs than it gains (2.2 vs 3.3 ms)
    cv2.setNumThreads(1)
    d = cfg.detector
    specs = [_spec("day", d, None)]
    specs += [_spec(n, d, o) for n, o in (("wide", d.wide), ("night", d.night)) if o is not None]
    made: dict[tuple[str, str], ModelDetector] = {}
    for key in dict.fromkeys((s.backend, s.model) for s in specs):
        path = d.models_dir / key[1]
        verify_model(path, check_hash=d.verify_hash)
        floor = min(s.floor for s in specs if (s.backend, s.model) == key)
        made[key] = create(key[0], path, detector_settings(d, floor))
    profiles = {s.name: Profile(
        name=s.name, detector=made[(s.backend, s.model)], score_threshold=s.score,
        score_floor=s.floor,
        tiling=TilingSettings(enabled=s.tiling, tile_scale=s.tile_scale, overlap=d.tile_overlap,
                              full_pass=d.tile_full_pass),
        enhancer=Enhancer(EnhanceSettings(
            mode=s.enhance, method=s.method,
            gamma=d.enhance_gamma, clip_limit=d.enhance_clip_limit)),
    ) for s in specs}
    return ZoneDetector(profiles["day"], zone_bounds(cfg), crop_settings(d),
                        wide=profiles.get("wide"), wide_above_px=d.wide_above_px,
                        night=profiles.get("night"), dark_below=d.dark_below,
                        attention=attention_settings(d),
                        bus_floor=cfg.kerb.bus_score if cfg.kerb.polygon is not None else None)


def detect_once(cfg: Config) -> Callable[[np.ndarray], list[Detection]]:
    """``detect(frame)``: the configured detector built, run on one frame and closed (tools and
    tests that need one look at one picture, e.g. to cut a person out of it)."""
    def detect(frame: np.ndarray) -> list[Detection]:
        det = build_detector(cfg)
        try:
            return det.detect(frame).detections
        finally:
            det.close()
    return detect


def core_settings(cfg: Config) -> CoreSettings:
    return CoreSettings(
        zone=cfg.zone.polygon, dwell_s=cfg.waiting.dwell_s, hold_s=cfg.light.hold_s,
        min_on_s=cfg.light.min_on_s, max_missed_s=cfg.tracker.max_missed_s,
        match_distance=cfg.tracker.match_distance, confirm_hits=cfg.tracker.confirm_hits,
        leave_grace_s=cfg.waiting.leave_grace_s,
        masks=tuple(cfg.zone.masks), max_on_s=cfg.light.max_on_s,
        static=StaticSettings(cfg.static.after_s, cfg.static.box_tolerance,
                              cfg.static.picture_tolerance, cfg.static.grace_s,
                              cfg.static.decay)
        if cfg.static.enabled else None,
    )


def controller_settings(cfg: Config) -> ControllerSettings:
    a = cfg.arrivals
    buses = None
    if a.enabled:  # the feeds' parsers (protobuf, XML) are loaded only for a stop that has one
        from edge.arrivals.build import bus_settings

        buses = bus_settings(a)
    return ControllerSettings(core=core_settings(cfg), windows=tuple(cfg.schedule.windows),
                              fail_state=cfg.failsafe.fail_state,
                              failsafe_after_s=cfg.failsafe.after_s, buses=buses,
                              kerb=kerb_settings(cfg))


def kerb_settings(cfg: Config) -> KerbSettings | None:
    k = cfg.kerb
    if k.polygon is None:
        return None
    return KerbSettings(polygon=k.polygon, stop_s=k.stop_s, still_tolerance=k.still_tolerance,
                        gone_s=k.gone_s, max_hide_s=k.max_hide_s, match_s=k.match_s)


def build_controller(cfg: Config, start: float | None = None) -> StopController:
    """The stop's controller; its fail-safe's blind clock starts at ``start`` (now)."""
    return StopController(controller_settings(cfg),
                          time.monotonic() if start is None else start)


def build_light(cfg: Config, pin_factory: str | None = None) -> RelayLight:
    """The relay; ``pin_factory`` (e.g. 'mock' in the simulator) overrides config and env."""
    name = pin_factory or pin_factory_name(cfg.light)
    pin, high = cfg.light.pin, cfg.light.active_high
    # at boot GPIO 0-8 are pulled up and 9-27 down: a floating pin must mean "off"
    if (high and pin <= 8) or (not high and pin >= 9):
        log.warning("light_pin_floats_on", pin=pin, active_high=high,
                    hint="use an active-high relay on GPIO 9-27 or an active-low one on GPIO 0-8")
    factory = make_pin_factory(name)
    fb = cfg.lamp_feedback
    if name == "mock" and fb.pin is not None:
        # the simulated box has a working lamp: the relay's pin drives the feedback input
        from gpiozero.pins.mock import MockConnectedPin

        level = fb.active_high == high
        factory.pin(pin, pin_class=MockConnectedPin,
                    input_pin=factory.pin(fb.pin) if level else _InvertedInput(factory.pin(fb.pin)))
    return RelayLight(pin, active_high=high, pin_factory=factory)


class _InvertedInput:
    """A mock input wired through an inverter (relay and feedback of opposite polarity)."""

    def __init__(self, pin: Any) -> None:
        self.pin = pin
        pin.drive_high()

    def drive_high(self) -> None:
        self.pin.drive_low()

    def drive_low(self) -> None:
        self.pin.drive_high()


def build_feedback(cfg: Config, light: RelayLight) -> Any:
    """The lamp-current input on the relay's pin factory, or None when none is wired."""
    fb = cfg.lamp_feedback
    if fb.pin is None:
        return None
    from actuators.feedback import LampFeedback

    return LampFeedback(fb.pin, follow_s=fb.follow_s, active_high=fb.active_high,
                        pull_up=fb.pull_up, pin_factory=light.device.pin_factory)


def build_health(cfg: Config) -> CameraHealth | None:
    """The picture-health monitor, or None when switched off."""
    return CameraHealth(cfg.health) if cfg.health.enabled else None


def build_attention(cfg: Config, relay: Any) -> Any:
    """The bus attention pattern's output (None without a feed or with the pattern off)."""
    at = cfg.attention
    if not cfg.arrivals.enabled or at.pattern is AttentionKind.OFF:
        return None
    if at.pattern is AttentionKind.BLINK:
        from actuators.attention import BlinkAttention

        return BlinkAttention(relay, at.on_s, at.off_s)
    from actuators.attention import BeaconAttention

    assert at.pin is not None
    return BeaconAttention(at.pin, at.active_high, relay.device.pin_factory)


def build_button(cfg: Config, pipeline: Pipeline, relay: Any) -> Any:
    """The waiting button on the relay's pin factory: a press goes to the controller, a held
    button is the button_stuck fault and ends the press."""
    from actuators.button import WaitingButton

    b = cfg.button
    assert b.pin is not None

    def stuck(held: bool) -> None:
        pipeline.report_fault(Fault.BUTTON_STUCK, held, **({"held_s": b.stuck_s} if held else {}))
        if held:
            pipeline.request_release()

    return WaitingButton(b.pin, pull_up=b.pull_up, bounce_s=b.bounce_s, stuck_s=b.stuck_s,
                         on_press=lambda: pipeline.request_press(b.for_s), on_stuck=stuck,
                         pin_factory=relay.device.pin_factory)
