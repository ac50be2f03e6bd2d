"""``stopsafe run``: the daemon on the real edges (camera, detector, relay), until a signal."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import structlog

from edge.config import Config, load_config
from edge.runtime.assembly import (
    build_core,
    build_detector,
    build_failsafe,
    build_feedback,
    build_health,
    build_light,
)
from edge.runtime.camera import open_camera
from edge.runtime.faults import FaultRegistry
from edge.runtime.gate import build_gate
from edge.runtime.notify import SystemdSink
from edge.runtime.pipeline import Pipeline, Sink
from edge.runtime.watchdog import StageWatchdog

log = structlog.get_logger("stopsafe.daemon")


def run_daemon(cfg: Config, config_path: Path | None = None,
               extra_sinks: list[Sink] | None = None) -> int:
    """Start everything, loop until SIGTERM/SIGINT or the source ends, switch the light off.

    Order matters: the config is already valid; the model is checked before the relay is set up,
    and the relay (starting off) before the camera, so a bad model never touches a pin. systemd
    hears READY=1 from the frame loop with the first decided frame, not from here.
    """
    from edge.mqtt.service import bind_pipeline, start_mqtt

    mqtt = start_mqtt(cfg, config_path)  # never waits for the broker
    try:
        detector = build_detector(cfg)
        light = build_light(cfg)
    except BaseException:
        if mqtt is not None:
            mqtt.close()
        raise
    faults = FaultRegistry()
    try:
        feedback = build_feedback(cfg, light, faults)
        source = open_camera(cfg.camera)
    except BaseException:
        light.close()
        if mqtt is not None:
            mqtt.close()
        raise
    core = build_core(cfg)
    sinks: list[Sink] = [SystemdSink(), *(extra_sinks or [])]
    if mqtt is not None:
        sinks.append(mqtt)
    pipeline = Pipeline(source, detector.detect, core, light, sinks,
                        gate=build_gate(cfg, core.zone), failsafe=build_failsafe(cfg),
                        feedback=feedback, faults=faults, health=build_health(cfg))
    if mqtt is not None:
        bind_pipeline(mqtt, pipeline, cfg,
                      (lambda: load_config(config_path)) if config_path else None)
    stop = pipeline.stop_event

    received: list[str] = []

    def _on_signal(signum: int, _frame: object) -> None:
        # no logging here: the handler runs between two bytecodes of the main thread, which may
        # hold the log writer's lock at that moment (a deadlock that ignored SIGTERM)
        received.append(signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    log.info("daemon_started", stop_id=cfg.stop.id, source=cfg.camera.source,
             model=cfg.detector.model, backend=cfg.detector.backend.value,
             config=str(config_path) if config_path else None,
             fail_state=cfg.failsafe.fail_state.value, failsafe_after_s=cfg.failsafe.after_s,
             lamp_feedback_pin=cfg.lamp_feedback.pin)
    watchdog = StageWatchdog(pipeline, cfg.watchdog.stage_timeout_s).start()
    try:
        frames = pipeline.run()
    finally:
        watchdog.stop()
        if received:
            log.info("signal", signal=received[0])
        pipeline.shutdown()  # the light goes off before anything else is released
        if feedback is not None:
            feedback.close()
        detector.close()
    log.info("daemon_stopped", frames=frames, light="off")
    return 0

