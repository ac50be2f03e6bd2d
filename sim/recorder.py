"""The simulator's sink: what scoring and the report need of each cycle of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.decision.events import BusArrived, ButtonPressed
from edge.runtime.faults import FaultEvent
from edge.runtime.pipeline import StopRecord
from sim.scoring import FrameMatch, Sample, match_frame
from sim.truth import Truth


@dataclass
class Recorder:
    """A pipeline sink that keeps what scoring and the report need."""

    truth: Truth
    samples: list[Sample] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    snapshot: tuple[np.ndarray, StopRecord] | None = None
    invocations: int = 0
    fault_log: list[dict[str, Any]] = field(default_factory=list)
    buses: list[BusArrived] = field(default_factory=list)  # the stop's bus events
    presses: int = 0  # waiting-button presses the controller took
    matches: dict[int, FrameMatch] = field(default_factory=dict)  # mot: per frame index
    frame_paths: dict[int, str] = field(default_factory=dict)
    longest_still_s: float = 0.0  # of any person in the zone: how near the static rule came
    static_frames: int = 0  # frames with a static object in the zone
    _best: tuple[int, int] = (-1, -1)

    def on_record(self, r: StopRecord) -> None:
        for e in r.events:
            if isinstance(e, BusArrived):
                self.buses.append(e)
            elif isinstance(e, ButtonPressed):
                self.presses += 1
        if r.frame is None:  # nothing was seen: no sample (the clip's frames are scored)
            return
        d = r.state
        if self.truth.kind == "mot" and r.frame.index in self.truth.boxes:
            h, w = r.frame.image.shape[:2]
            dets = [(b.x1 * w, b.y1 * h, b.x2 * w, b.y2 * h, b.score) for b in r.detections]
            self.matches[r.frame.index] = match_frame(
                dets, self.truth.boxes[r.frame.index], self.truth.ignored_boxes[r.frame.index])
            if r.frame.path is not None:
                self.frame_paths[r.frame.index] = r.frame.path
        self.samples.append(Sample(
            t=r.frame.t, index=r.frame.index, path=r.frame.path, occupied=d.occupied,
            waiting=d.waiting, light_on=bool(r.light_on), invoke_ms=r.times_ms["invoke"],
            frame_ms=r.times_ms["frame"], detected=r.detected,
            truth_occupied=self.truth.occupied(r.frame.t, r.frame.index, r.frame.path),
            invokes=r.invokes,
        ))
        self.records.append(r.times_ms)
        self.invocations += r.invokes
        self.longest_still_s = max([self.longest_still_s,
                                    *(p.still_s for p in d.people if p.in_zone)])
        self.static_frames += bool(d.static_objects)
        score = (d.waiting, d.occupancy)
        if score > self._best:  # keep the busiest frame for the report's snapshot
            self._best = score
            self.snapshot = (r.frame.image.copy(), r)

    def on_fault(self, event: FaultEvent) -> None:
        if event.active:
            self.fault_log.append({"fault": event.fault.value, "raised_s": round(event.at, 3),
                                   "cleared_s": None})
            return
        for entry in reversed(self.fault_log):
            if entry["fault"] == event.fault.value and entry["cleared_s"] is None:
                entry["cleared_s"] = round(event.at, 3)
                break

    def close(self) -> None:
        pass
