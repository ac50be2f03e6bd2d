"""The walk test: "walk into the zone and wait, then leave" proves camera, zone, dwell and relay
together. It watches the records the pipeline makes anyway (a sink, fed in the frame thread) and
notes when the person was first seen in the zone, when waiting began, when the light went on
(read back from the relay) and off again; PASS with those times, FAIL naming what never came.

Used by the page (``POST /api/walk``) and by ``stopsafe commission --walk`` (through a running
daemon's page, or on a pipeline of its own).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from edge.decision.events import WaitingStarted
from edge.runtime.pipeline import StopRecord

DEFAULT_WALK_S = 120.0  # time for the walk: in, wait the dwell, light on, out, hold, light off


class Step(str, Enum):
    """The steps in the order they must come."""

    SEEN = "first_seen"  # a tracked person's standing point in the zone
    WAITING = "waiting_began"
    LIGHT_ON = "light_on"  # the relay read back on
    LIGHT_OFF = "light_off"  # and off again after the person left


class WalkStatus(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    PASSED = "pass"
    FAILED = "fail"


@dataclass
class WalkResult:
    status: WalkStatus
    times: dict[Step, float] = field(default_factory=dict)  # seconds after the start
    started_t: float | None = None
    limit_s: float = DEFAULT_WALK_S
    note: str = ""

    @property
    def missing(self) -> list[Step]:
        return [s for s in Step if s not in self.times]

    def message(self) -> str:
        got = ", ".join(f"{s.value.replace('_', ' ')} at {self.times[s]:.1f} s"
                        for s in Step if s in self.times)
        if self.status is WalkStatus.PASSED:
            return f"PASS: {got}"
        if self.status is WalkStatus.FAILED:
            missing = ", ".join(s.value.replace("_", " ") for s in self.missing)
            return (f"FAIL: never {missing} within {self.limit_s:g} s"
                    + (f" ({got})" if got else "") + (f"; {self.note}" if self.note else ""))
        if self.status is WalkStatus.RUNNING:
            return "walk into the zone and wait until the light is on, then leave" + (
                f" ({got})" if got else "")
        return "not started"

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "message": self.message(),
                "times": {s.value: round(t, 2) for s, t in self.times.items()},
                "missing": [s.value for s in self.missing], "limit_s": self.limit_s}


class WalkTest:
    """A pipeline sink; ``start`` from any thread, records from the frame thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._result = WalkResult(WalkStatus.IDLE)
        self._pending_start: float | None = None  # limit of a walk that starts at the next record
        self._was_on = False
        self._last_t: float | None = None

    def start(self, limit_s: float = DEFAULT_WALK_S) -> None:
        """A new walk from the next record on (any walk under way is dropped)."""
        with self._lock:
            self._pending_start = limit_s
            self._result = WalkResult(WalkStatus.RUNNING, limit_s=limit_s)

    def result(self) -> WalkResult:
        with self._lock:
            r = self._result
            return WalkResult(r.status, dict(r.times), r.started_t, r.limit_s, r.note)

    def expire(self, note: str) -> None:
        """End a running walk as failed (no frames come, or the caller gives up)."""
        with self._lock:
            if self._result.status is WalkStatus.RUNNING:
                self._result.status, self._result.note = WalkStatus.FAILED, note

    def on_record(self, record: StopRecord | Any) -> None:
        """A record (or anything with its t, light_on, state and events: the page's queue)."""
        with self._lock:
            r = self._result
            light = bool(record.light_on)
            if self._pending_start is not None:
                r.started_t, self._pending_start = record.t, None
                self._was_on = light
            if r.status is not WalkStatus.RUNNING or r.started_t is None:
                self._was_on = light
                return
            at = record.t - r.started_t
            state = record.state
            if Step.SEEN not in r.times and any(p.in_zone for p in state.people):
                r.times[Step.SEEN] = at
            if Step.WAITING not in r.times and (
                    state.waiting > 0 or any(isinstance(e, WaitingStarted)
                                             for e in record.events)):
                r.times[Step.WAITING] = at
            if light and not self._was_on and Step.LIGHT_ON not in r.times:
                r.times[Step.LIGHT_ON] = at
            elif not light and self._was_on and Step.LIGHT_ON in r.times:
                r.times[Step.LIGHT_OFF] = at
            self._was_on = light
            if Step.LIGHT_OFF in r.times:
                r.status = WalkStatus.PASSED if not r.missing else WalkStatus.FAILED
            elif at >= r.limit_s:
                r.status = WalkStatus.FAILED

    def close(self) -> None:
        self.expire("the pipeline stopped")
