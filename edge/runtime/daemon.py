"""``stopsafe run``: the daemon on the real edges (camera, detector, relay), until a signal."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import structlog

from edge.config import Config, load_config
from edge.runtime.assembly import assemble
from edge.runtime.camera import open_camera
from edge.runtime.notify import SystemdSink
from edge.runtime.pipeline import Sink
from edge.runtime.watchdog import StageWatchdog

log = structlog.get_logger("stopsafe.daemon")


def run_daemon(cfg: Config, config_path: Path | None = None,
               extra_sinks: list[Sink] | None = None) -> int:
    """Start everything, loop until SIGTERM/SIGINT or the source ends, switch the light off.

    The config is already valid; MQTT starts first (an unreadable password file is a config
    error before any pin is touched), then :func:`assemble` checks the model, sets up the relay
    (off) and only then opens the camera. systemd hears READY=1 from the frame loop with the
    first decided frame, not from here.
    """
    from edge.mqtt.service import start_mqtt

    mqtt = start_mqtt(cfg, config_path)  # never waits for the broker
    stop = assemble(cfg, lambda: open_camera(cfg.camera),
                    sinks=[SystemdSink(), *(extra_sinks or [])], mqtt=mqtt,
                    loader=(lambda: load_config(config_path)) if config_path else None)
    pipeline = stop.pipeline
    received: list[str] = []

    def _on_signal(signum: int, _frame: object) -> None:
        # no logging here: the handler runs between two bytecodes of the main thread, which may
        # hold the log writer's lock at that moment (a deadlock that ignored SIGTERM)
        received.append(signal.Signals(signum).name)
        pipeline.stop_event.set()

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
        frames = stop.run()
    finally:
        watchdog.stop()
        if received:
            log.info("signal", signal=received[0])
        stop.close()  # the light goes off before anything else is released
    log.info("daemon_stopped", frames=frames, light="off")
    return 0
