"""``stopsafe run``: the daemon on the real edges (camera, detector, relay), until a signal."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from edge.app.compose import assemble
from edge.config import Config, ConfigError, load_config, state_dir
from edge.runtime.assembly import build_light
from edge.runtime.camera import open_camera
from edge.runtime.faults import Fault, FaultRegistry
from edge.runtime.frames import CameraFileEnded
from edge.runtime.last_good import KeepWhenClean, keep
from edge.runtime.notify import SystemdSink
from edge.runtime.parts import Backoff, RetryingPart
from edge.runtime.pipeline import Sink
from edge.runtime.run_marker import PreviousRun, RunEnd, RunMarker
from edge.runtime.signals import SignalWatch
from edge.runtime.static_file import static_file_path
from edge.runtime.watchdog import StageWatchdog
from edge.wire import EventKind

log = structlog.get_logger("stopsafe.daemon")


def run_daemon(cfg: Config, config_path: Path | None = None,
               extra_sinks: list[Sink] | None = None, rejected: str | None = None) -> int:
    """See ``_run``; the signal handlers are in place from the first moment (a SIGTERM while
    the model loads ends the start-up cleanly, instead of killing it with the default action),
    and put back whatever happens. ``rejected``: why the config file was refused (``cfg`` is
    then the last good one), raised as ``config_rejected``.

    The run marker in the state directory says how this run ends (clean, or crashed with the
    reason; a killed run cannot say, so the next start finds it still running), and the next
    start reports it in its ``started`` event."""
    stop = threading.Event()
    controls: list[Any] = []  # the pipeline's control, once there is one
    signals = SignalWatch(stop, lambda: _reload(controls[0]) if controls else
                          log.info("reload_ignored", reason="still starting")).install()
    marker = RunMarker(state_dir() / f"run-{cfg.stop.id}.json")
    previous = marker.begin()
    try:
        code = _run(cfg, config_path, extra_sinks, signals, controls, previous, marker,
                    rejected)
    except BaseException as exc:
        marker.end(RunEnd.CRASHED, _why(exc))
        raise
    else:
        marker.end(RunEnd.CLEAN)
        return code
    finally:
        signals.restore()


def _why(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400]


def _run(cfg: Config, config_path: Path | None, extra_sinks: list[Sink] | None,
         signals: SignalWatch, controls: list[Any], previous: PreviousRun, marker: RunMarker,
         rejected: str | None) -> int:
    """Start everything, loop until a terminating signal or the source ends, switch the light
    off. SIGHUP reloads the config (see ``edge.runtime.signals``).

    The relay comes first (off): from then on the stop holds its light whatever else fails.
    MQTT next, so the broker's stale retained ``light/state`` (a killed run's ``ON``) is
    corrected at once, with the ``started`` event. Then :func:`assemble` with retries: a model,
    lamp input or camera that cannot be had is a fault with its reason, retried with back-off
    while the loop runs blind under the fail-safe (``edge.runtime.parts``). systemd hears
    READY=1 from the frame loop's first cycle, not from here.
    """
    from edge.app.control import PipelineControl
    from edge.config.permissions import check_daemon_files
    from edge.mqtt.last_word import say_last_word
    from edge.mqtt.service import start_mqtt
    from edge.wire import Status

    registry = FaultRegistry()  # the stop's, written only through its pipeline's report
    for problem in check_daemon_files(config_path, cfg.mqtt.password_file):
        log.warning("insecure_permissions", file=problem.what, path=str(problem.path),
                    problem=problem.problem)
    try:
        light = build_light(cfg)
    except Exception as exc:  # no relay, no fail-safe: say why where the crew looks, and end
        say_last_word(cfg, Fault.DAEMON_FAILED, f"relay pin {cfg.light.pin}: {_why(exc)}",
                      config_path)
        raise
    started = {"kind": EventKind.STARTED.value, **previous.payload()}
    fs = cfg.failsafe
    unusable: ConfigError | None = None  # why the broker cannot be used (retried, below)
    try:
        mqtt = start_mqtt(cfg, config_path)  # never waits for the broker
    except ConfigError as exc:  # its password file unreadable: the light runs without it
        mqtt, unusable = None, exc
    except BaseException:
        light.close()
        raise
    if mqtt is not None:
        mqtt.publish_event(started)
    log.info("daemon_starting", previous_end=previous.end.value, previous_reason=previous.reason)
    loader = (lambda: load_config(config_path)) if config_path else None
    view = _web_view(cfg)
    sinks: list[Sink] = [SystemdSink(), *(extra_sinks or []), *([view] if view else [])]
    if config_path is not None and rejected is None:
        sinks.append(KeepWhenClean(config_path, cfg))
    stop = assemble(cfg, lambda: open_camera(cfg.camera), light=light, sinks=sinks, mqtt=mqtt,
                    loader=loader, faults=registry,
                    retry=lambda: Backoff(fs.retry_min_s, fs.retry_max_s),
                    static_file=static_file_path(cfg, default=True))
    pipeline = stop.pipeline
    if unusable is not None:  # its first try's fault, now that the sinks hear it
        broker: RetryingPart[Any] = RetryingPart(
            "mqtt", lambda: start_mqtt(cfg, config_path), pipeline.report_fault,
            Backoff(fs.retry_min_s, fs.retry_max_s), fault=Fault.MQTT_UNUSABLE,
            on_ready=lambda svc: _attach_mqtt(stop, svc, loader, started))
        broker.failed(unusable, time.monotonic())
        pipeline.upkeep.append(broker.upkeep)
    if rejected is not None:
        pipeline.report_fault(Fault.CONFIG_REJECTED, True, error=rejected)
        if config_path is not None:
            stop.running.subscribe(lambda new, _updates: _accepted(stop, config_path, new))
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
             lamp_feedback_pin=cfg.lamp_feedback.pin,
             faults=sorted(f.value for f in stop.faults.active()))

    def hung(code: int) -> None:  # the stage watchdog's exit: say so first
        marker.end(RunEnd.CRASHED, f"stage {pipeline.stage} hung")
        os._exit(code)

    watchdog = StageWatchdog(pipeline, cfg.watchdog.stage_timeout_s, exit=hung).start()
    try:
        frames = stop.run()
    except Exception as exc:  # leave the reason retained: status 'failed', daemon_failed
        pipeline.report_fault(Fault.DAEMON_FAILED, True, error=_why(exc), stage=pipeline.stage)
        if stop.mqtt is not None:
            stop.mqtt.end_status = Status.FAILED
        raise
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


def _accepted(stop: Any, path: Path, running: Config) -> None:
    """After a reload (frame thread): once the whole file runs (it is valid again and nothing of
    it waits for a restart), it is no longer rejected, and it is the last good config."""
    try:
        on_disk = load_config(path)
    except ConfigError:
        return
    if on_disk == running and stop.pipeline.report_fault(Fault.CONFIG_REJECTED, False,
                                                         reloaded=str(path)):
        keep(path, running)


def _attach_mqtt(stop: Any, service: Any, loader: Any, started: dict[str, Any]) -> None:
    """A MQTT service that could be started only now (its password file is readable again):
    a sink of the running stop like one started first (in the frame thread, from upkeep)."""
    from edge.app.compose import bind_mqtt

    service.publish_event(started)
    stop.pipeline.sinks.append(service)
    stop.faults.subscribe(service.on_fault)
    bind_mqtt(service, stop, loader)
    if stop.detector is not None and stop.detector.runtime is not None:
        service.describe_runtime(stop.detector.runtime)
    stop.mqtt = service


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
    from edge.runtime.control import CommandFailed

    try:
        future = control.reload()
    except CommandFailed:
        return None  # logged by the control, with the one-line reason
    return future.result(timeout=30)
