"""Assembling the daemon's parts from a config: the one place that picks real or simulated.

Like gpiozero's pin factories: the camera source, the detector and the relay's pin factory are
chosen here, from the config (or the environment for the pin factory), and the pipeline is handed
whatever was chosen.
"""

from __future__ import annotations

import structlog

from actuators.light import RelayLight, make_pin_factory
from detector.enhance import EnhanceMethod as EnhanceMethod_
from detector.enhance import EnhanceMode as EnhanceMode_
from detector.enhance import Enhancer, EnhanceSettings
from detector.frontend import CropSettings, Profile, ZoneDetector
from detector.models import verify_model
from detector.registry import create
from detector.settings import DetectorSettings
from detector.tiling import TilingSettings
from edge.config import Config, DetectorConfig, EnhanceMethod, EnhanceMode, pin_factory_name
from edge.decision.core import CoreSettings, DecisionCore
from edge.decision.zones import Zone

log = structlog.get_logger("stopsafe.build")


def detector_settings(d: DetectorConfig, score_threshold: float | None = None
                      ) -> DetectorSettings:
    return DetectorSettings(
        score_threshold=d.score_threshold if score_threshold is None else score_threshold,
        nms_iou=d.nms_iou, min_box_height=d.min_box_height, max_box_height=d.max_box_height,
        max_box_area=d.max_box_area, threads=d.threads,
    )


def _profile(name: str, d: DetectorConfig, backend: str, model: str, score: float,
             tiling: bool, tile_scale: float, enhance: EnhanceMode, method: EnhanceMethod,
             reuse: Profile | None = None) -> Profile:
    """A profile; it shares ``reuse``'s interpreter when model and threshold are the same."""
    same = (reuse is not None and reuse.detector.name == backend
            and reuse.detector.model_path.name == model
            and reuse.detector.settings.score_threshold == score)
    if same:
        assert reuse is not None
        detector = reuse.detector
    else:
        path = d.models_dir / model
        verify_model(path, check_hash=d.verify_hash)
        detector = create(backend, path, detector_settings(d, score))
    return Profile(
        name=name, detector=detector,
        tiling=TilingSettings(enabled=tiling, tile_scale=tile_scale, overlap=d.tile_overlap,
                              full_pass=d.tile_full_pass),
        enhancer=Enhancer(EnhanceSettings(
            mode=EnhanceMode_(enhance.value), method=EnhanceMethod_(method.value),
            gamma=d.enhance_gamma, clip_limit=d.enhance_clip_limit)),
    )


def build_detector(cfg: Config) -> ZoneDetector:
    """The configured detector on verified models (raises ModelError with how to fetch them):
    the day profile, an optional night profile, and the crop to the zone."""
    d = cfg.detector
    day = _profile("day", d, d.backend.value, d.model, d.score_threshold, d.tiling,
                   d.tile_scale, d.enhance, d.enhance_method)
    night = None
    if d.night is not None:
        n = d.night
        night = _profile(
            "night", d, (n.backend or d.backend).value, n.model or d.model,
            d.score_threshold if n.score_threshold is None else n.score_threshold,
            d.tiling if n.tiling is None else n.tiling, n.tile_scale or d.tile_scale,
            n.enhance or d.enhance, n.enhance_method or d.enhance_method, reuse=day,
        )
    crop = CropSettings(enabled=d.crop_to_zone, margin=d.crop_margin,
                        head_room=d.crop_head_room, max_area=d.crop_max_area)
    return ZoneDetector(day, night, Zone(cfg.zone.polygon).bounds(), crop, d.dark_below)


def core_settings(cfg: Config) -> CoreSettings:
    return CoreSettings(
        zone=cfg.zone.polygon, dwell_s=cfg.waiting.dwell_s, hold_s=cfg.light.hold_s,
        min_on_s=cfg.light.min_on_s, max_missed_s=cfg.tracker.max_missed_s,
        match_distance=cfg.tracker.match_distance, confirm_hits=cfg.tracker.confirm_hits,
        leave_grace_s=cfg.waiting.leave_grace_s, windows=tuple(cfg.schedule.windows),
    )


def build_core(cfg: Config) -> DecisionCore:
    return DecisionCore(core_settings(cfg))


def build_light(cfg: Config, pin_factory: str | None = None) -> RelayLight:
    """The relay; ``pin_factory`` (e.g. 'mock' in the simulator) overrides config and env."""
    name = pin_factory or pin_factory_name(cfg.light)
    pin, high = cfg.light.pin, cfg.light.active_high
    # at boot GPIO 0-8 are pulled up and 9-27 down: a floating pin must mean "off"
    if (high and pin <= 8) or (not high and pin >= 9):
        log.warning("light_pin_floats_on", pin=pin, active_high=high,
                    hint="use an active-high relay on GPIO 9-27 or an active-low one on GPIO 0-8")
    return RelayLight(pin, active_high=high, pin_factory=make_pin_factory(name))
