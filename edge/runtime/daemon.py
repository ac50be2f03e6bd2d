"""``stopsafe run``: the daemon on the real edges (camera, detector, relay), until a signal."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import structlog

from edge.config import Config, load_config
from edge.runtime.assembly import assemble
from edge.runtime.camera import open_camera
from edge.runtime.frames import CameraFileEnded
from edge.runtime.notify import SystemdSink
from edge.runtime.pipeline import Sink
from edge.runtime.signals import SignalWatch
from edge.runtime.static_file import static_file_path
from edge.runtime.watchdog import StageWatchdog

log = structlog.get_logger("stopsafe.daemon")


def run_daemon(cfg: Config, config_path: Path | None = None,
               extra_sinks: list[Sink] | None = None) -> int:
    """See ``_run``; the signal handlers are in place from the first moment (a SIGTERM while
    the model loads ends the start-up cleanly, instead of killing it with the default action),
    and put back whatever happens."""
    stop = threading.Event()
    controls: list[Any] = []  # the pipeline's control, once there is one
    signals = SignalWatch(stop, lambda: _reload(controls[0]) if controls else
                          log.info("reload_ignored", reason="still starting")).install()
    try:
        return _run(cfg, config_path, extra_sinks, signals, controls)
    finally:
        signals.restore()


def _run(cfg: Config, config_path: Path | None, extra_sinks: list[Sink] | None,
         signals: SignalWatch, controls: list[Any]) -> int:
    """Start everything, loop until a terminating signal or the source ends, switch the light
    off. SIGHUP reloads the config (see ``edge.runtime.signals``).

    The config is already valid; MQTT starts first (an unreadable password file is a config
    error before any pin is touched), then :func:`assemble` checks the model, sets up the relay
    (off) and only then opens the camera. systemd hears READY=1 from the frame loop with the
    first decided frame, not from here.
    """
    from edge.install.permissions import check_daemon_files
    from edge.mqtt.control import PipelineControl
    from edge.mqtt.service import start_mqtt

    for problem in check_daemon_files(config_path, cfg.mqtt.password_file):
        log.warning("insecure_permissions", file=problem.what, path=str(problem.path),
                    problem=problem.problem)
    mqtt = start_mqtt(cfg, config_path)  # never waits for the broker
    loader = (lambda: load_config(config_path)) if config_path else None
    view = _web_view(cfg)
    stop = assemble(cfg, lambda: open_camera(cfg.camera),
                    sinks=[SystemdSink(), *(extra_sinks or []), *([view] if view else [])],
                    mqtt=mqtt, loader=loader, static_file=static_file_path(cfg, default=True))
    pipeline = stop.pipeline
    control = (mqtt.control if mqtt is not None and mqtt.control is not None
               else PipelineControl(stop, loader,
                                    view.last_framed if view is not None else lambda: None))
    web = _start_web(cfg, view, stop, control, config_path)
    pipeline.stop_event = signals.stop  # a signal during start-up ends the loop at once
    controls.append(control)
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
        if signals.received:
            log.info("signal", signal=signals.received[0], action="stop")
        stop.close()  # the light goes off before anything else is released
        if web is not None:
            web.close()
    log.info("daemon_stopped", frames=frames, light="off")
    ended_early = getattr(pipeline.source, "ended_early", None)
    problem = ended_early() if ended_early is not None and not signals.received else None
    if problem:  # a file the daemon was told to run on broke: say so, end non-zero
        raise CameraFileEnded(problem)
    return 0


def _web_view(cfg: Config) -> Any:
    """The page's sink when ``web.enabled`` (its libraries are imported only then)."""
    if not cfg.web.enabled:
        return None
    from edge.web.view import LiveView

    return LiveView(cfg)


def _start_web(cfg: Config, view: Any, stop: Any, control: Any,
               config_path: Path | None) -> Any:
    """The page's server on the assembled stop; settings that refuse it (no password beyond
    loopback) or an address that cannot be bound are logged, and the stop runs without its page
    (the light never depends on it)."""
    if view is None:
        return None
    from edge.web.server import WebRefused, start_web
    from edge.web.view import Parts

    view.bind(Parts(stop, control, config_path), stop.mqtt)
    try:
        return start_web(cfg.web, view)
    except (OSError, WebRefused) as exc:
        log.error("web_not_started", host=cfg.web.host, port=cfg.web.port, error=str(exc))
        return None


def _reload(control: Any) -> dict[str, Any] | None:
    """SIGHUP: the same reload as the MQTT ``reload`` command (its answer, logged as
    ``config_reloaded``); a bad file keeps the running config (``reload_refused`` in the log,
    None here)."""
    from edge.mqtt.commands import CommandFailed

    try:
        future = control.reload()
    except CommandFailed:
        return None  # logged by the control, with the one-line reason
    return future.result(timeout=30)
