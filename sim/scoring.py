"""Scores of one simulated run against its truth: occupancy, light and speed.

The daemon's light is a step function of time: what was read back from the pin at a processed
frame holds until the next processed frame. Times within ``tolerance_s`` of an edge of the
expected light are left out of ``agreement`` and ``false_on_s``.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Any

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


def _near(t: float, edges: list[float], tol: float) -> bool:
    return any(abs(t - e) <= tol for e in edges)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def occupancy_scores(samples: list[Sample], truth: Truth) -> dict[str, Any]:
    edges = truth.edges()
    tp = fp = fn = tn = 0
    for s in samples:
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
    switches = sum(a.light_on != b.light_on for a, b in itertools.pairwise(samples))
    if samples and samples[0].light_on:
        switches += 1
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
    }
