"""``stopsafe bench``: where a frame's time goes, what the bare model costs, CPU and memory.

The pipeline pass runs the scenario as the simulator does (as fast as the machine allows, at the
configured processing rate, adaptive rate as configured); the bare pass then runs only the
detector on the frames the pipeline sent to it, so the two medians compare like with like.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from typing import Any

from edge.config import Config
from edge.runtime.assembly import build_detector
from sim.runner import SimRun, scenario_config, simulate
from sim.scenario import Scenario
from sim.scoring import detection_scores, light_scores, occupancy_scores
from sim.stills import ClipSource

STAGES = ("read", "gate", "preprocess", "invoke", "decode", "decide", "light", "publish",
          "frame")


def detector_doc(detector: Any) -> dict[str, Any]:
    """The day profile's back-end, runtime and provider, and every profile's (bench --json)."""
    return {**detector.runtime.as_json(),
            "profiles": {k: v.as_json() for k, v in detector.runtimes().items()}}


def machine() -> dict[str, Any]:
    """The CPU this ran on: x86 says 'model name', a Raspberry Pi 'Model' (or 'Hardware')."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    model = (info.get("model name") or info.get("model") or info.get("hardware")
             or platform.processor() or platform.machine())
    return {"cpu": model, "arch": platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version()}


def _stats(xs: list[float]) -> dict[str, float | None]:
    if not xs:
        return {"p50": None, "p95": None}
    xs = sorted(xs)
    return {"p50": round(statistics.median(xs), 3),
            "p95": round(xs[min(len(xs) - 1, int(0.95 * len(xs)))], 3)}


def bare_invokes(sc: Scenario, cfg: Config, frames: set[int], detector: Any) -> list[float]:
    """Invoke ms per frame of the detector alone, on the frames the pipeline detected on."""
    source = ClipSource(sc.clip_path, fps=sc.fps, process_fps=cfg.camera.fps)
    out = []
    try:
        while (frame := source.read()) is not None:
            if frame.index in frames:
                out.append(detector.detect(frame.image).times.invoke_ms)
    finally:
        source.close()
    return out


def stage_table(run: SimRun) -> dict[str, Any]:
    records = run.recorder.records
    ran = [r for r, s in zip(records, run.recorder.samples, strict=True) if s.detected]
    skipped = [r for r, s in zip(records, run.recorder.samples, strict=True) if not s.detected]
    return {
        "detected_frames": {k: _stats([r.get(k, 0.0) for r in ran]) for k in STAGES},
        "skipped_frames": {k: _stats([r.get(k, 0.0) for r in skipped]) for k in STAGES},
    }


def bench(sc: Scenario, base: Config, *, bare: bool = True,
          sinks: tuple[Any, ...] = ()) -> dict[str, Any]:
    cfg = scenario_config(base, sc)
    detector = build_detector(cfg)
    what = detector_doc(detector)
    try:
        run = simulate(sc, base, detector=detector, sinks=sinks)
        detected = {s.index for s in run.recorder.samples if s.detected}
        bare_ms = bare_invokes(sc, cfg, detected, detector) if bare else []
    finally:
        detector.close()
    rec = run.recorder
    n = len(rec.samples)
    stages = stage_table(run)
    ran = sum(s.detected for s in rec.samples)  # a still shown on several frames counts each
    scores: dict[str, Any] = {
        "occupancy": occupancy_scores(rec.samples, run.truth),
        "light": light_scores(rec.samples, run.truth, sc.dwell_s, sc.hold_s, run.duration_s),
    }
    if run.truth.kind == "mot":
        scores["detection"] = detection_scores(list(rec.matches.values()))
    frame_p50 = stages["detected_frames"]["frame"]["p50"]
    bare_p50 = _stats(bare_ms)["p50"]
    return {
        "name": sc.name,
        "machine": {**machine(), "threads": cfg.detector.thread_count,
                    "runtime": what["runtime"]},
        "model": cfg.detector.model,
        "detector": what,
        "processing_fps": cfg.camera.fps,
        "adaptive": cfg.adaptive.enabled,
        "frames": n,
        "frames_detected": ran,
        "duration_s": round(run.duration_s, 3),
        "fps": round(n / run.wall_s, 2) if run.wall_s else None,
        "stages_ms": stages,
        "bare_invoke_ms": _stats(bare_ms),
        "frame_over_bare_invoke": round(frame_p50 / bare_p50, 3)
        if frame_p50 and bare_p50 else None,
        "cpu_s_per_s": round(run.cpu_s / run.duration_s, 4) if run.duration_s else None,
        "invocations": rec.invocations,
        "runs_per_detected_frame": round(rec.invocations / ran, 3) if ran else None,
        "scores": scores,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(run.wall_s, 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def compare_adaptive(sc: Scenario, base: Config, *, bare: bool = False,
                     sinks: tuple[Any, ...] = ()) -> dict[str, Any]:
    """One scenario at the fixed full rate and with the adaptive rate, with the savings."""
    runs = {}
    for name, enabled in (("fixed", False), ("adaptive", True)):
        cfg = base.model_copy(deep=True)
        cfg.adaptive.enabled = enabled
        runs[name] = bench(sc, cfg, bare=bare, sinks=sinks)
    fixed, adaptive = runs["fixed"], runs["adaptive"]
    return {
        "name": sc.name, **runs,
        "invocations_fixed_over_adaptive": ratio(fixed["invocations"],
                                                 max(1, adaptive["invocations"])),
        "cpu_fixed_over_adaptive": ratio(fixed["cpu_s_per_s"], adaptive["cpu_s_per_s"]),
    }
