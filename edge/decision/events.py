"""What happened at a stop, as the controller reports it: one value an event, each made once.

The controller (``edge/decision/controller.py``) makes the light, waiting and mode events; the
fault registry (``edge/runtime/faults.py``) makes the fault events. Sinks forward them (the MQTT
outbox, the simulator's recorder); none of them works an event out again. Their ``kind`` words
are the wire format's (``edge.wire.EventKind``), which the fleet tools read without the stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.decision.light_rules import LightMode, LightReason
from edge.wire import EventKind


def _t(t: float | None) -> float | None:
    return None if t is None else round(t, 3)


@dataclass(frozen=True, slots=True)
class LightSwitched:
    """The light the stop wants changed: the relay is switched in the same cycle."""

    t: float
    on: bool
    reason: LightReason
    mode: LightMode
    waiting: int | None  # None at shutdown: nobody looked

    kind = EventKind.LIGHT

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "on": self.on, "reason": self.reason.value,
                "mode": self.mode.value, "waiting": self.waiting, "t": _t(self.t)}


@dataclass(frozen=True, slots=True)
class WaitingStarted:
    """Someone began waiting at an empty stop: a waiting episode starts (counted, not sent)."""

    t: float
    waiting: int

    kind = None  # not an event on the wire: the episode is reported when it ends

    def payload(self) -> dict[str, Any]:  # pragma: no cover - never published
        return {"t": _t(self.t), "waiting": self.waiting}


@dataclass(frozen=True, slots=True)
class WaitingEnded:
    """The last waiting person left (or stopped counting): one episode, its length and peak."""

    t: float
    duration_s: float
    peak: int

    kind = EventKind.WAITING_ENDED

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "duration_s": round(self.duration_s, 3),
                "peak": self.peak, "t": _t(self.t)}


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """The manual mode changed: by a command, or a timed mode ran out (``expired``)."""

    t: float
    mode: LightMode
    previous: LightMode
    for_s: float | None = None
    expired: bool = False

    kind = EventKind.MODE

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "mode": self.mode.value,
                "previous": self.previous.value, "for_s": self.for_s, "expired": self.expired,
                "t": _t(self.t)}


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    """Someone pressed the waiting button: the stop counts as waited at for ``for_s``."""

    t: float
    for_s: float

    kind = EventKind.BUTTON

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "for_s": round(self.for_s, 3), "t": _t(self.t)}


@dataclass(frozen=True, slots=True)
class BusArrived:
    """One bus's visit to the stop, once it is over: did it stop, and was anyone waiting.

    Feed times (``approached_at``, ``stopped_from``, ``stopped_until``, ``left_at``) are the
    feed's own POSIX seconds; ``waiting``, ``waited_s`` and ``light_on`` are the stop's own, at
    the moment the bus reached it (or went by)."""

    t: float
    route_id: str | None
    vehicle_id: str | None
    trip_id: str | None
    stop_id: str
    outcome: str  # edge.wire.BusOutcome's value
    approached_at: float | None  # None from the camera (it has no feed time)
    stopped_from: float | None
    stopped_until: float | None
    left_at: float | None
    dwell_s: float | None
    waiting: bool  # someone waited (camera) or the button was pressed, when it came
    waited_s: float | None  # how long they had waited by then
    light_on: bool  # the light was on when it came
    source: str = "feed"  # what told it: "feed", "camera" (the kerb zone), or "feed+camera"
    by_source: tuple[tuple[str, str], ...] = ()  # merged: each source's own outcome

    kind = EventKind.BUS

    @property
    def arrived_at(self) -> float | None:
        """The feed's time the bus came to the stop: its first stop report, or when it was
        seen beyond it (passed); None from the camera alone."""
        return self.stopped_from if self.stopped_from is not None else self.left_at

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "route": self.route_id, "vehicle": self.vehicle_id,
                "trip": self.trip_id, "stop_id": self.stop_id, "outcome": self.outcome,
                "approached_at": self.approached_at, "arrived_at": self.arrived_at,
                "stopped_from": self.stopped_from,
                "stopped_until": self.stopped_until, "left_at": self.left_at,
                "dwell_s": None if self.dwell_s is None else round(self.dwell_s, 1),
                "waiting": self.waiting,
                "waited_s": None if self.waited_s is None else round(self.waited_s, 1),
                "light_on": self.light_on, "source": self.source,
                **({"by_source": dict(self.by_source)} if self.by_source else {}),
                "t": _t(self.t)}


StopEvent = (LightSwitched | WaitingStarted | WaitingEnded | ModeChanged | ButtonPressed
             | BusArrived)
