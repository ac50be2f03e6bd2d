"""Scores of one simulated run against its truth: occupancy, light and speed.

The daemon's light is a step function of time: what was read back from the pin at a processed
frame holds until the next processed frame. Times within ``tolerance_s`` of an edge of the
expected light are left out of ``agreement`` and ``false_on_s``.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.bus_figures import bus_figures
from sim.truth import Truth, expected_light, waits


@dataclass(slots=True)
class Sample:
    t: float
    index: int
    path: str | None
    occupied: bool
    waiting: int
    light_on: bool
    invoke_ms: float
    frame_ms: float
    truth_occupied: bool | None
    detected: bool = True  # the detector ran on this frame (the adaptive rate skips some)
    invokes: int = 0  # model runs on this frame (tiles)


def _near(t: float, edges: list[float], tol: float) -> bool:
    return any(abs(t - e) <= tol for e in edges)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def judged(samples: list[Sample], truth: Truth) -> list[Sample]:
    """The samples occupancy is scored on.

    A labelled still is shown as a short static scene (``confirm_hits`` frames, so a person can
    be confirmed at all); it is judged once, on its last frame, by what the daemon concluded.
    """
    if truth.kind != "frames":
        return samples
    last: dict[int, Sample] = {}
    for s in samples:
        last[s.index] = s
    return list(last.values())


def occupancy_scores(samples: list[Sample], truth: Truth) -> dict[str, Any]:
    edges = truth.edges()
    tp = fp = fn = tn = 0
    for s in judged(samples, truth):
        if s.truth_occupied is None or _near(s.t, edges, truth.tolerance_s):
            continue
        if s.occupied and s.truth_occupied:
            tp += 1
        elif s.occupied:
            fp += 1
        elif s.truth_occupied:
            fn += 1
        else:
            tn += 1
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
    if tp + fp + fn == 0 and tn > 0:  # nobody, and nobody seen: perfect
        p = r = f1 = 1.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def light_scores(samples: list[Sample], truth: Truth, dwell_s: float, hold_s: float,
                 end_t: float) -> dict[str, Any]:
    if truth.kind == "frames":
        # unrelated stills have no timeline, so no stays and no expected light: every 'on' would
        # count as false. The light is not scored on stills (occupancy is, still by still).
        return {"agreement": None, "on_latency_s": {"median": None, "max": None},
                "false_on_s": None, "missed_waits": None, "waits": 0, "switches": None,
                "switch_times": []}
    expected = expected_light(truth.stays, dwell_s, hold_s)
    edges = [e for span in expected for e in span]
    tol = truth.tolerance_s

    def want(t: float) -> bool:
        return any(a <= t < b for a, b in expected)

    agree = scored = false_on = 0.0
    step = 0.01  # integrate the two step functions on a fine grid
    times = [s.t for s in samples]
    j = 0
    t = times[0] if times else 0.0
    while samples and t < end_t:
        while j + 1 < len(times) and times[j + 1] <= t:
            j += 1
        on = samples[j].light_on
        if not _near(t, edges, tol):
            w = want(t)
            scored += step
            agree += step if on == w else 0.0
            if on and not w:
                false_on += step
        t += step

    latencies, missed = [], 0
    for stay in waits(truth.stays, dwell_s):
        due = stay.start + dwell_s
        during = [s for s in samples if stay.start <= s.t <= stay.end + tol]
        if not any(s.light_on for s in during):
            missed += 1
            continue
        first_on = next((s.t for s in samples if s.t >= due and s.light_on), None)
        before = [s for s in samples if s.t <= due]
        if before and before[-1].light_on:
            latencies.append(0.0)
        elif first_on is not None:
            latencies.append(max(0.0, first_on - due))
    # every switch as [clip time, on]: what `make arm64` compares between two machines
    switch_times = [[round(b.t, 3), b.light_on] for a, b in itertools.pairwise(samples)
                    if a.light_on != b.light_on]
    if samples and samples[0].light_on:
        switch_times.insert(0, [round(samples[0].t, 3), True])
    switches = len(switch_times)
    return {
        "agreement": agree / scored if scored else None,
        "on_latency_s": {
            "median": statistics.median(latencies) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
        "false_on_s": round(false_on, 2),
        "missed_waits": missed,
        "waits": len(waits(truth.stays, dwell_s)),
        "switches": switches,
        "switch_times": switch_times,
    }


def perf_scores(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    """Speed. The per-frame medians are over the frames the detector ran on (with the adaptive
    rate, a skipped frame costs only its reading and the motion measure)."""
    ran = [s for s in samples if s.detected]
    skipped = [s.frame_ms for s in samples if not s.detected]

    def p50(xs: list[float]) -> float | None:
        return round(statistics.median(xs), 3) if xs else None

    return {
        "fps": round(len(samples) / wall_s, 2) if wall_s > 0 else None,
        "invoke_ms_p50": p50([s.invoke_ms for s in ran]),
        "frame_ms_p50": p50([s.frame_ms for s in ran]),
        "skipped_frame_ms_p50": p50(skipped),
        "invokes_per_frame": (round(statistics.mean(s.invokes for s in samples), 2)
                              if samples else None),
    }


MATCH_IOU = 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (x1, y1, x2, y2 rows)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass(slots=True)
class FrameMatch:
    """One frame's detections against its truth boxes (all x1, y1, x2, y2 in pixels)."""

    matched: list[tuple[float, float, float, float]] = field(default_factory=list)
    missed: list[tuple[float, float, float, float]] = field(default_factory=list)
    false: list[tuple[float, float, float, float]] = field(default_factory=list)
    ignored: list[tuple[float, float, float, float]] = field(default_factory=list)


def match_frame(dets: list[tuple[float, float, float, float, float]],
                counted: list[tuple[float, float, float, float]],
                ignored: list[tuple[float, float, float, float]]) -> FrameMatch:
    """Greedy matching, best score first: each detection takes the free counted truth box it
    overlaps most at IoU >= 0.5; one that only overlaps a box that does not count (ignored,
    not a person, too hidden) is neither right nor wrong; any other is false."""
    out = FrameMatch(ignored=list(ignored))
    order = sorted(range(len(dets)), key=lambda i: -dets[i][4])
    boxes = np.array([dets[i][:4] for i in order], float).reshape(-1, 4)
    iou_c = _iou(boxes, np.array(counted, float).reshape(-1, 4))
    iou_i = _iou(boxes, np.array(ignored, float).reshape(-1, 4))
    free = np.ones(len(counted), bool)
    for k in range(len(order)):
        box = tuple(float(v) for v in boxes[k])
        cand = np.where(free, iou_c[k], -1.0) if len(counted) else np.zeros(0)
        if len(cand) and cand.max() >= MATCH_IOU:
            j = int(cand.argmax())
            free[j] = False
            out.matched.append(box)
        elif not (len(ignored) and iou_i[k].max() >= MATCH_IOU):
            out.false.append(box)
    out.missed = [b for b, f in zip(counted, free, strict=True) if f]
    return out


def detection_scores(matches: list[FrameMatch]) -> dict[str, Any]:
    """Precision and recall of person boxes over the scored frames."""
    tp = sum(len(m.matched) for m in matches)
    fp = sum(len(m.false) for m in matches)
    truth_boxes = tp + sum(len(m.missed) for m in matches)
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, truth_boxes),
            "truth_boxes": truth_boxes, "tp": tp, "fp": fp, "frames": len(matches)}


def bus_scores(events: Sequence[Any], presses: int, truth: Sequence[Any],
               epoch: float | None) -> dict[str, Any]:
    """The ``buses`` object of the sim's JSON: the stop's bus events counted (the figure a city
    asks for: buses that passed someone waiting), each with its clip times, and scored against
    the scenario's ``buses_truth`` where it gives one."""
    def clip(t: float | None) -> float | None:
        return None if t is None or epoch is None else round(t - epoch, 3)

    per = []
    for e in events:
        p = e.payload()
        p.update(event_s=round(e.t, 3), approached_s=clip(e.approached_at),
                 stopped_from_s=clip(e.stopped_from), stopped_until_s=clip(e.stopped_until),
                 left_s=clip(e.left_at))
        per.append(p)
    fig = bus_figures(per)  # the telemetry's and the fleet's counting rule
    out: dict[str, Any] = {
        "arrivals": fig["buses"],
        **{k: fig[k] for k in ("stopped", "passed", "unknown", "passed_while_waiting")},
        "button_presses": presses,
        "per_arrival": per,
    }
    if truth:
        rows = []
        for t in truth:
            found = [p for p in per if (t.trip_id is not None and p["trip"] == t.trip_id)
                     or (t.vehicle_id is not None and p["vehicle"] == t.vehicle_id)]
            got = found[0]["outcome"] if found else None
            rows.append({"trip_id": t.trip_id, "vehicle_id": t.vehicle_id,
                         "truth": t.outcome.value, "got": got,
                         "agree": got == t.outcome.value})
        out["truth"] = {"buses": len(rows), "found": sum(r["got"] is not None for r in rows),
                        "agree": sum(r["agree"] for r in rows), "per_bus": rows}
    return out
