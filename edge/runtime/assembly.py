"""Assembling a stop from a config: the one place that picks real or simulated parts.

Like gpiozero's pin factories: the camera source, the detector and the relay's pin factory are
chosen here, from the config (or the environment for the pin factory), and the pipeline is handed
whatever was chosen. :func:`assemble` puts one stop together the same way for the daemon, the
simulator, the soak, fleet-sim's fake stops and the tests; each passes only the edges it replaces
(a recorded clip for the camera, a scripted detector, the mock relay).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from actuators.light import RelayLight, make_pin_factory
from detector.attention import AttentionSettings
from detector.backend import ModelDetector, RuntimeInfo
from detector.enhance import EnhanceMethod, EnhanceMode, Enhancer, EnhanceSettings
from detector.frontend import CropSettings, Profile, ZoneDetector, low_floor
from detector.models import verify_model
from detector.registry import create
from detector.settings import DetectorSettings
from detector.tiling import TilingSettings
from edge.arrivals.build import bus_settings
from edge.config import AttentionKind, Config, DetectorConfig, ProfileConfig, pin_factory_name
from edge.decision.controller import ControllerSettings, StopController
from edge.decision.core import CoreSettings
from edge.decision.kerb import KerbSettings
from edge.decision.static import StaticSettings
from edge.decision.zones import Zone
from edge.runtime.faults import Fault, FaultRegistry
from edge.runtime.frames import FrameSource
from edge.runtime.gate import build_gate
from edge.runtime.parts import (
    Backoff,
    RetryingDetector,
    RetryingFeedback,
    RetryingPart,
    RetryingSource,
)
from edge.runtime.picture_health import CameraHealth
from edge.runtime.pipeline import DetectFn, Pipeline, Sink
from edge.runtime.reload import SECTION_USERS, ConfigDiff, RunningConfig, Update, diff
from edge.runtime.static_file import StaticPlacesFile

if TYPE_CHECKING:
    import numpy as np

    from actuators.light import Light
    from detector.base import Detection
    from edge.arrivals.source import FeedSource
    from edge.mqtt.service import MqttService

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
    return ControllerSettings(core=core_settings(cfg), windows=tuple(cfg.schedule.windows),
                              fail_state=cfg.failsafe.fail_state,
                              failsafe_after_s=cfg.failsafe.after_s,
                              buses=bus_settings(a) if a.enabled else None,
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


def build_feedback(cfg: Config, light: RelayLight, faults: FaultRegistry | None) -> Any:
    """The lamp-current input on the relay's pin factory, or None when none is wired."""
    fb = cfg.lamp_feedback
    if fb.pin is None:
        return None
    from actuators.feedback import LampFeedback

    return LampFeedback(fb.pin, follow_s=fb.follow_s, active_high=fb.active_high,
                        pull_up=fb.pull_up, pin_factory=light.device.pin_factory, faults=faults)


def build_health(cfg: Config) -> CameraHealth | None:
    """The picture-health monitor, or None when switched off."""
    return CameraHealth(cfg.health) if cfg.health.enabled else None


@dataclass(slots=True)
class PreparedReload:
    """A new config read and checked outside the frame thread, with the detector it needs
    already built on verified models (building one takes a second; the frame loop must not
    wait for it)."""

    cfg: Config
    detector: ZoneDetector | None = None

    def discard(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None


@dataclass
class Stop:
    """One assembled stop: its pipeline, the parts it owns (closed with it), and the one owner
    of the config it runs on (``running``; a reload replaces it)."""

    running: RunningConfig
    pipeline: Pipeline
    mqtt: MqttService | None = None
    detector: Any = None  # the detector front-end (crop to the zone), built here or given
    feedback: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    owns_detector: bool = False  # built here: rebuilt on a reload, closed with the stop
    health_on: bool = True  # picture health is part of this stop (not for unrelated stills)
    gate_on: bool = True  # the adaptive gate is (not for stills and fake stops)

    @property
    def cfg(self) -> Config:
        return self.running.cfg

    @property
    def controller(self) -> StopController:
        return self.pipeline.controller

    @property
    def faults(self) -> FaultRegistry:
        return self.pipeline.faults

    def run(self) -> int:
        return self.pipeline.run()

    # ---------------- reload ----------------
    def prepare_reload(self, new: Config) -> PreparedReload:
        """Outside the frame thread: when the detector section changed (and this stop built its
        detector), build the new one now; a missing or altered model raises ModelError and the
        running stop is left as it is."""
        prepared = PreparedReload(new)
        if self.owns_detector and Update.DETECTOR in diff(self.cfg, new).updates:
            prepared.detector = build_detector(new)
        return prepared

    def apply_reload(self, prepared: PreparedReload) -> ConfigDiff:
        """In the frame thread, between two frames: every part that uses a changed section is
        re-configured or rebuilt (:data:`edge.runtime.reload.SECTION_USERS`); sections that need
        a restart stay as they run. Compared against the running config *now* (another reload
        may have come first)."""
        change = diff(self.cfg, prepared.cfg)
        new, updates = change.running, change.updates
        p = self.pipeline
        if Update.DETECTOR in updates and not self.owns_detector:
            # a detector given by the caller (the simulator's, a script) is not rebuilt here
            change = _needs_restart(change, "detector", self.cfg)
            new, updates = change.running, change.updates
        if Update.DETECTOR in updates:
            fresh = prepared.detector or build_detector(new)
            prepared.detector = None
            old, self.detector = self.detector, fresh
            p.detect = fresh.detect
            old.close()
            if self.mqtt is not None:
                self.mqtt.describe_runtime(fresh.runtime)
        elif Update.CROP in updates and self.detector is not None:
            self.detector.set_zone(zone_bounds(new))
        prepared.discard()
        if Update.CONTROLLER in updates:
            p.controller.reload(controller_settings(new))
        if Update.GATE in updates and self.gate_on:
            p.gate = build_gate(new, Zone(new.zone.polygon))
        if Update.HEALTH in updates and self.health_on:
            p.health = build_health(new)
        self.running.replace(new, updates)
        log.info("config_reloaded", **change.answer())
        return change

    def close(self) -> None:
        """Light off and sinks closed first (the pipeline's shutdown), then the rest."""
        try:
            self.pipeline.shutdown()
        finally:
            if self.feedback is not None:
                self.feedback.close()
            if self.detector is not None and self.owns_detector:
                self.detector.close()
            for close in self.closers:
                close()


def _needs_restart(change: ConfigDiff, section: str, running: Config) -> ConfigDiff:
    """``change`` with ``section`` moved from applied to restart_needed (kept as it runs)."""
    old = change.running.model_copy(update={section: getattr(running, section)})
    return ConfigDiff(tuple(a for a in change.applied if a != section),
                      (*change.restart_needed, section),
                      change.updates - SECTION_USERS[section], old)


def assemble(
    cfg: Config, source: FrameSource | Callable[[], FrameSource], *,
    detect: DetectFn | None = None, frontend: Any = None, light: Light | None = None,
    sinks: Sequence[Sink] = (), mqtt: MqttService | None = None,
    loader: Callable[[], Config] | None = None,
    faults: FaultRegistry | None = None, clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], datetime] = datetime.now, start: float | None = None,
    health: bool = True, gate: bool = True, pin_factory: str | None = None,
    runtime: RuntimeInfo | None = None, retry: Callable[[], Backoff] | None = None,
    feed: FeedSource | None = None, poll_feed: bool = True, static_file: Path | None = None,
) -> Stop:
    """A stop from ``cfg``, with the given edges in place of the configured ones.

    The relay is set up first (starting off), so whatever fails after it, the stop holds its
    light. Without ``retry`` a model, lamp input or camera that cannot be had ends the assembly
    with its error (the tools and the simulator); with it (the daemon) each becomes a fault
    with its reason, retried on a fresh ``retry()`` back-off until it comes right, while the
    frame loop runs blind under the fail-safe (``edge.runtime.parts``; a model is built on the
    running config, so a reload meanwhile is not lost). ``source`` may be a factory, called
    after the relay. ``mqtt`` is started by the caller before this; it is bound here, so its
    commands act on this stop (``loader`` re-reads the config for ``reload``).
    ``health``/``gate`` False leave picture health and the adaptive rate out (unrelated stills,
    fake stops). ``frontend`` is the detector front-end behind a given ``detect`` (its crop
    then follows a zone reload; the detector section itself needs a restart). ``runtime`` names
    what runs the model behind a given ``detect`` (telemetry's versions); a detector built here
    names its own. With ``arrivals.enabled`` the feed (``feed``, else the configured one) is
    polled in its own thread; ``poll_feed`` False leaves the polling to the caller (the
    simulator hands the pipeline its snapshots on the clip's clock). ``static_file`` keeps the
    places found static across restarts (read here, written by the pipeline when they change).
    """
    built: Any = None
    relay: Any = None
    feedback: Any = None
    running = RunningConfig(cfg)
    upkeep: list[Callable[[float], None]] = []
    try:
        relay = light if light is not None else build_light(cfg, pin_factory)
        registry = faults if faults is not None else FaultRegistry()
        if cfg.arrivals.enabled and poll_feed and feed is None:
            from edge.arrivals.build import make_source

            feed = make_source(cfg.arrivals)  # a missing key is a config error (exit 78)
        if detect is None:
            if retry is None:
                built = build_detector(cfg)
            else:
                built = RetryingDetector(
                    "model", lambda: build_detector(running.cfg), registry, retry(),
                    fault=Fault.MODEL_FAILED, clock=clock,
                    on_ready=(lambda d: mqtt.describe_runtime(d.runtime)) if mqtt else None)
                upkeep.append(built.upkeep)
            detect = built.detect
        if retry is None or cfg.lamp_feedback.pin is None:
            feedback = build_feedback(cfg, relay, registry)
        else:
            feedback = RetryingFeedback("lamp input", lambda: build_feedback(cfg, relay, registry),
                                        registry, retry(), fault=Fault.LAMP_INPUT_FAILED,
                                        clock=clock)
            upkeep.append(feedback.upkeep)
        if cfg.bus_signal.webhook_url is not None:
            from edge.signal.webhook import WebhookSink

            sinks = [*sinks, WebhookSink(cfg.bus_signal, cfg.stop.id, registry)]
        if retry is None:
            src = source() if callable(source) else source
        else:
            src = RetryingSource(source if callable(source) else lambda: source, registry,
                                 retry(), cfg.camera.fps, where=cfg.camera.source, clock=clock)
    except BaseException:
        for part in (feedback, relay if light is None else None, built):
            if part is not None:
                part.close()
        if mqtt is not None:
            mqtt.close()
        raise
    controller = build_controller(cfg, clock() if start is None else start)
    kept = StaticPlacesFile(static_file) if static_file is not None else None
    if kept is not None:
        controller.restore_static(kept.load())
    attention = build_attention(cfg, relay)
    pipeline = Pipeline(
        src, detect, controller, relay, [*sinks, *([mqtt] if mqtt is not None else [])],
        gate=build_gate(cfg, Zone(cfg.zone.polygon)) if gate else None, faults=registry,
        feedback=feedback, health=build_health(cfg) if health else None, clock=clock,
        wall=wall, upkeep=upkeep, attention=attention, static_file=kept)
    closers: list[Callable[[], None]] = []
    if attention is not None:
        closers.append(attention.close)
    if cfg.button.pin is not None:
        closers.append(build_button(cfg, pipeline, relay).close)
    if cfg.arrivals.enabled and poll_feed and feed is not None:
        from edge.runtime.feed_poller import FeedPoller

        a = cfg.arrivals
        closers.append(FeedPoller(feed, pipeline.feed, registry, a.poll_s,
                                  a.fault_after).start().close)
    stop = Stop(running, pipeline, mqtt, built if built is not None else frontend,
                feedback, closers, owns_detector=built is not None, health_on=health,
                gate_on=gate)
    if mqtt is not None:
        from edge.mqtt.service import bind_pipeline

        bind_pipeline(mqtt, stop, loader)
        info = built.runtime if built is not None else runtime
        if info is not None:
            mqtt.describe_runtime(info)
    for part in (built, feedback, src):  # first tries, now that the faults reach the sinks
        if isinstance(part, RetryingPart):
            part.attempt()
    return stop


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
    from edge.runtime.faults import Fault

    b = cfg.button
    assert b.pin is not None

    def stuck(held: bool) -> None:
        pipeline.faults.set(Fault.BUTTON_STUCK, held, **({"held_s": b.stuck_s} if held else {}))
        if held:
            pipeline.request_release()

    return WaitingButton(b.pin, pull_up=b.pull_up, bounce_s=b.bounce_s, stuck_s=b.stuck_s,
                         on_press=lambda: pipeline.request_press(b.for_s), on_stuck=stuck,
                         pin_factory=relay.device.pin_factory)
