"""What happened at a stop, as the controller reports it: one value an event, each made once.

The controller (``edge/decision/controller.py``) makes the light, waiting and mode events; the
fault registry (``edge/runtime/faults.py``) makes the fault events. Sinks forward them (the MQTT
outbox, the simulator's recorder); none of them works an event out again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from edge.decision.light_rules import LightMode, LightReason


class EventKind(str, Enum):
    """The ``kind`` of an event on the wire."""

    LIGHT = "light"  # the light went on or off (with reason)
    WAITING_ENDED = "waiting_ended"  # a waiting episode ended (duration, peak count)
    MODE = "mode"  # the manual mode changed (a command, or a timed mode expired)
    FAULT = "fault"  # a fault was raised or cleared
    # the daemon started, with how its previous run ended (the daemon's own, not the controller's)
    STARTED = "started"


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


StopEvent = LightSwitched | WaitingStarted | WaitingEnded | ModeChanged
