"""A stop composed from a config and a set of edges: the one place that wires every layer.

:func:`assemble` puts one stop together the same way for the daemon, the simulator, the soak,
fleet-sim's fake stops and the tests; each passes only the edges it replaces (a recorded clip for
the camera, a scripted detector, the mock relay). The parts are built from their config sections
in :mod:`edge.runtime.assembly`; here they are wired into a pipeline, and the maintenance link
(MQTT), started by the caller, is bound to the stop (:func:`bind_mqtt`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.backend import RuntimeInfo
from edge.app.control import PipelineControl
from edge.app.stop import Stop
from edge.config import Config
from edge.decision.zones import Zone
from edge.runtime.assembly import (
    build_attention,
    build_button,
    build_controller,
    build_detector,
    build_feedback,
    build_health,
    build_light,
)
from edge.runtime.control import Control
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
from edge.runtime.pipeline import DetectFn, Pipeline, Sink, fault_reporter
from edge.runtime.reload import RunningConfig
from edge.runtime.static_file import StaticPlacesFile

if TYPE_CHECKING:
    from actuators.light import Light
    from edge.mqtt.service import MqttService


def assemble(
    cfg: Config, source: FrameSource | Callable[[], FrameSource], *,
    detect: DetectFn | None = None, frontend: Any = None, light: Light | None = None,
    sinks: Sequence[Sink] = (), mqtt: MqttService | None = None,
    loader: Callable[[], Config] | None = None,
    faults: FaultRegistry | None = None, clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], datetime] = datetime.now, start: float | None = None,
    health: bool = True, gate: bool = True, pin_factory: str | None = None,
    runtime: RuntimeInfo | None = None, retry: Callable[[], Backoff] | None = None,
    poll_feed: bool = True, static_file: Path | None = None,
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
    names its own. With ``arrivals.enabled`` the configured feed is polled in its own thread;
    ``poll_feed`` False leaves the polling to the caller (the simulator hands the pipeline its
    snapshots on the clip's clock). ``static_file`` keeps the places found static across
    restarts (read here, written by the pipeline when they change).
    """
    built: Any = None
    relay: Any = None
    feedback: Any = None
    running = RunningConfig(cfg)
    upkeep: list[Callable[[float], None]] = []
    try:
        relay = light if light is not None else build_light(cfg, pin_factory)
        registry = faults if faults is not None else FaultRegistry()
        report = fault_reporter(registry)  # the pipeline's report_fault, before it exists
        feed = None
        if cfg.arrivals.enabled and poll_feed:
            from edge.arrivals.build import make_source

            feed = make_source(cfg.arrivals)  # a missing key is a config error (exit 78)
        if detect is None:
            if retry is None:
                built = build_detector(cfg)
            else:
                built = RetryingDetector(
                    "model", lambda: build_detector(running.cfg), report, retry(),
                    fault=Fault.MODEL_FAILED, clock=clock,
                    on_ready=(lambda d: mqtt.describe_runtime(d.runtime)) if mqtt else None)
                upkeep.append(built.upkeep)
            detect = built.detect
        if retry is None or cfg.lamp_feedback.pin is None:
            feedback = build_feedback(cfg, relay)
        else:
            feedback = RetryingFeedback("lamp input", lambda: build_feedback(cfg, relay),
                                        report, retry(), fault=Fault.LAMP_INPUT_FAILED,
                                        clock=clock)
            upkeep.append(feedback.upkeep)
        if cfg.bus_signal.webhook_url is not None:
            from edge.signal.webhook import WebhookSink

            sinks = [*sinks, WebhookSink(cfg.bus_signal, cfg.stop.id, report)]
        if retry is None:
            src = source() if callable(source) else source
        else:
            src = RetryingSource(source if callable(source) else lambda: source, report,
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
    if feed is not None:
        from edge.runtime.feed_poller import FeedPoller

        a = cfg.arrivals
        closers.append(FeedPoller(feed, pipeline.feed, pipeline.report_fault, a.poll_s,
                                  a.fault_after).start().close)
    stop = Stop(running, pipeline, mqtt, built if built is not None else frontend,
                feedback, closers, owns_detector=built is not None, health_on=health,
                gate_on=gate)
    if mqtt is not None:
        bind_mqtt(mqtt, stop, loader)
        info = built.runtime if built is not None else runtime
        if info is not None:
            mqtt.describe_runtime(info)
    for part in (built, feedback, src):  # first tries, now that the faults reach the sinks
        if isinstance(part, RetryingPart):
            part.attempt()
    return stop


def bind_mqtt(service: MqttService, stop: Stop, loader: Callable[[], Config] | None
              ) -> Control:
    """Let commands act on ``stop``; ``loader`` re-reads the config for ``reload``. From here on
    the service reads the stop's running config (one owner; a reload replaces it for both), and
    the control is returned for the daemon's SIGHUP, so both reloads take the same path."""
    service.running = stop.running
    stop.running.subscribe(service.reloaded)
    control = PipelineControl(stop, loader, service.last_record)
    service.attach(control)
    service.bind_faults(stop.pipeline.report_fault, stop.pipeline.faults.active)
    return control
