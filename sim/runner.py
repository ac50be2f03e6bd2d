"""``stopsafe sim``: the daemon's own pipeline on a recorded clip with the mock relay, scored."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from edge.app.compose import assemble
from edge.config import Config, load_config
from edge.decision.zones import Zone
from edge.runtime.assembly import build_detector, build_light
from edge.runtime.camera import frame_files
from edge.runtime.faults import FaultRegistry
from edge.runtime.frames import CameraFileEnded
from edge.runtime.pipeline import Pipeline
from edge.runtime.static_file import static_file_path
from sim.arrivals import ClipFeed, ScenarioInputs
from sim.injection import BrokerControl, FaultPlan, FaultyCamera, FaultyRelay, faulty_detect
from sim.own_light import OwnLightCamera
from sim.recorder import Recorder
from sim.scenario import Scenario, load_truth
from sim.scoring import (
    bus_scores,
    detection_scores,
    light_scores,
    occupancy_scores,
    perf_scores,
)
from sim.stills import ClipSource, StillsSource
from sim.truth import Truth


def scenario_config(base: Config, sc: Scenario) -> Config:
    """The config the simulator runs: the scenario's zone, dwell, hold and fps win."""
    cfg = base.model_copy(deep=True)
    cfg.zone.polygon = list(sc.zone)
    cfg.waiting.dwell_s = sc.dwell_s
    cfg.light.hold_s = sc.hold_s
    if "min_on_s" not in base.light.model_fields_set:
        cfg.light.min_on_s = 0.0
    if sc.fps is not None:
        cfg.camera.fps = min(sc.fps, 60.0)
    cfg.light.pin_factory = cfg.light.pin_factory.MOCK
    if sc.arrivals_feed is not None:  # the scenario's feed, handed over on the clip's clock
        cfg.arrivals.stop_id = sc.gtfs_stop_id
        cfg.arrivals.enabled = True
    return cfg


@dataclass
class SimRun:
    """What one pass of a scenario through the pipeline left behind."""

    scenario: Scenario
    config: Config
    truth: Truth
    recorder: Recorder
    duration_s: float
    wall_s: float
    cpu_s: float
    detector_stats: Any = None  # what the detector front-end did (profiles, dark frames)
    feed_epoch: float | None = None  # the clip's start in the arrivals feed's time
    lit_frames: int | None = None  # frames the own light changed (None: no own_light)


def simulate(sc: Scenario, base: Config, *, realtime: bool = False, detector: Any = None,
             sinks: tuple[Any, ...] = (), config_path: Path | None = None,
             broker: BrokerControl | None = None) -> SimRun:
    """Run the daemon's pipeline on the scenario's clip with the mock relay; with
    ``mqtt.enabled`` it is also on the broker, like the daemon (``config_path`` is what a
    ``reload`` command re-reads). The scenario's faults are injected on the clip's clock, and the
    fail-safe, picture health and fault registry run on that clock too."""
    cfg = scenario_config(base, sc)
    truth = load_truth(sc, Zone(cfg.zone.polygon))
    plan = FaultPlan(sc.faults, broker)
    det = detector or build_detector(cfg)
    pipeline: Pipeline | None = None
    stills = sc.truth.kind == "frames"
    if stills:
        files = frame_files(sc.clip_path)
        source: Any = StillsSource(files, sc.fps or 1.0, cfg.tracker.confirm_hits,
                                   on_new_still=lambda: pipeline and pipeline.reset())
    else:
        source = ClipSource(sc.clip_path, fps=sc.fps, process_fps=cfg.camera.fps,
                            realtime=realtime)
    start_wall = source.start_wall

    def clip_clock() -> float:
        return plan.now

    feed = (ClipFeed(sc.feed_path, sc.gtfs_stop_id or "", cfg.arrivals.poll_s)
            if sc.feed_path is not None else None)
    relay = build_light(cfg, pin_factory="mock")
    camera: Any = FaultyCamera(source, plan)
    lit = OwnLightCamera(camera, relay.read, sc.own_light) if sc.own_light else None
    if lit is not None:  # the lamp as the camera sees it, closed-loop
        camera = lit
    if feed is not None or sc.button:
        camera = ScenarioInputs(camera, lambda: pipeline, feed,
                                [(b.at_s, b.for_s) for b in sc.button], clip_clock)
    recorder = Recorder(truth)
    from edge.mqtt.service import start_mqtt

    mqtt = start_mqtt(cfg, config_path)
    loader = ((lambda: scenario_config(load_config(config_path), sc))
              if config_path and mqtt is not None else None)
    # unrelated stills have no motion, pace or picture history: every still is looked at alone
    stop = assemble(
        cfg, camera, detect=faulty_detect(det.detect, plan), poll_feed=False,
        frontend=det if hasattr(det, "set_zone") else None,
        light=FaultyRelay(relay, plan),
        sinks=[recorder, *sinks], mqtt=mqtt, loader=loader,
        faults=FaultRegistry(clock=clip_clock), clock=clip_clock,
        wall=lambda: start_wall + timedelta(seconds=plan.now), start=0.0,
        health=not stills, gate=not stills,
        runtime=getattr(det, "runtime", None),  # a scripted detector runs no model
        static_file=static_file_path(cfg, default=False))  # only a file the config names
    pipeline = stop.pipeline
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    try:
        stop.run()
    finally:
        stop.close()
        if detector is None:
            det.close()
        plan.tick(float("inf"))  # a broker stopped by a fault is started again
    problem = getattr(source, "ended_early", lambda: None)()
    if problem and not pipeline.stop_event.is_set():  # scores of half a clip would mislead
        raise CameraFileEnded(problem)
    epoch = sc.arrivals_epoch if sc.arrivals_epoch is not None else (
        feed.epoch() if feed is not None else None)
    return SimRun(sc, cfg, truth, recorder, source.duration_s, time.perf_counter() - t0,
                  time.process_time() - cpu0, getattr(det, "stats", None), epoch,
                  lit.lit_frames if lit is not None else None)


def run_scenario(sc: Scenario, base: Config, *, realtime: bool = False,
                 report_dir: Path | None = None, detector: Any = None,
                 config_path: Path | None = None, broker: BrokerControl | None = None,
                 sinks: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Simulate and score one scenario: the document ``stopsafe sim --json`` prints."""
    run = simulate(sc, base, realtime=realtime, detector=detector, config_path=config_path,
                   broker=broker, sinks=sinks)
    rec, duration = run.recorder, run.duration_s
    result: dict[str, Any] = {
        "name": sc.name,
        "frames": len(rec.samples),
        "duration_s": round(duration, 3),
        "occupancy": occupancy_scores(rec.samples, run.truth),
        "light": light_scores(rec.samples, run.truth, sc.dwell_s, sc.hold_s, duration),
        "faults": {
            "injected": [f.model_dump(mode="json") for f in sc.faults],
            "raised": rec.fault_log,
        },
        "static": {"longest_still_s": round(rec.longest_still_s, 3),
                   "frames_with_static_object": rec.static_frames},
        "perf": {
            **perf_scores(rec.samples, run.wall_s),
            "invocations": rec.invocations,
            "detector_frames": sum(s.detected for s in rec.samples),
            "cpu_s_per_s": round(run.cpu_s / duration, 4) if duration else None,
        },
    }
    stats = run.detector_stats
    if stats is not None:  # what the detector front-end did: profiles, dark frames
        result["perf"].update(profiles=dict(stats.counts), dark_frames=stats.dark_frames,
                              enhanced_frames=stats.enhanced_frames)
    if run.lit_frames is not None:
        result["own_light"] = {"lit_frames": run.lit_frames}
    if run.truth.kind == "mot":
        result["detection"] = detection_scores(list(rec.matches.values()))
    if sc.arrivals_feed is not None or sc.button:  # a stop without either scores as before
        result["buses"] = bus_scores(rec.buses, rec.presses, sc.buses_truth, run.feed_epoch)
    if report_dir is not None:
        from sim.report import write_report

        result["report"] = write_report(report_dir, sc, run.config, run.truth, rec, duration)
    return result
