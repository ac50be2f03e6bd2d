"""Faults the daemon knows about, and the registry of those that are active now.

One registry per stop: the one owner of which faults are active, with one writer, the pipeline:
the frame loop raises and clears the camera, model, picture, relay and lamp faults (the lamp
feedback reports its checks to it), and what is seen outside the frame loop (the maintenance
link's outbox and ``camera_stale``) is reported to ``Pipeline.report_fault``. The fault names
themselves are the wire format's (``edge.wire.Fault``). Every
raise and clear is logged here and only here (``fault_raised`` / ``fault_cleared``) and handed to
the registry's listeners (the pipeline's sinks), so no consumer keeps a second fault set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from edge.decision.controller import TickKind
from edge.wire import BLIND_FAULTS, PICTURE_FAULTS, EventKind, Fault

if TYPE_CHECKING:
    from actuators.feedback import LampCheck

log = structlog.get_logger("stopsafe.faults")


# the cycle a fault makes while it is active (the frame loop ticks the controller with it;
# camera_stale is the link's name for a loop that gets no frame): every blind fault (the wire
# format's list) makes a cycle that does not see (``TickKind.sees``)
FAULT_TICK: dict[Fault, TickKind] = {
    f: TickKind.PICTURE_FAULT if f in PICTURE_FAULTS else TickKind.NO_FRAME for f in BLIND_FAULTS
}


def lamp_faults(check: LampCheck) -> dict[Fault, bool]:
    """The lamp faults a feedback check says are active (the device reports, the frame loop
    writes)."""
    return {Fault.LAMP_FAILED: check.failed, Fault.LAMP_STUCK_ON: check.stuck_on}


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One raise or clear; times are the wall clock (epoch seconds) for the maintenance crew."""

    fault: Fault
    active: bool
    at: float
    raised_at: float
    detail: dict[str, Any] = field(default_factory=dict)
    active_now: frozenset[Fault] = frozenset()  # every fault active just after this event

    def payload(self, t: float | None = None) -> dict[str, Any]:
        """The event on the wire (``t``: the stop's clock at the time, when known)."""
        return {"kind": EventKind.FAULT.value, "fault": self.fault.value, "active": self.active,
                "t": None if t is None else round(t, 3),
                **({"detail": self.detail} if self.detail else {})}


@dataclass(frozen=True, slots=True)
class ActiveFault:
    fault: Fault
    raised_at: float
    detail: dict[str, Any]


def fault_reasons(active: Mapping[Fault, ActiveFault]) -> dict[str, dict[str, Any]]:
    """The active faults as a person reads them: each with since when (UTC, ISO 8601) and its
    detail (``error``: what is wrong, in words; a start-up part adds ``file``, ``problem``)."""
    return {f.value: {"since": datetime.fromtimestamp(a.raised_at, timezone.utc).isoformat(
        timespec="seconds"), **a.detail}
        for f, a in sorted(active.items(), key=lambda item: item[0].value)}


Listener = Callable[[FaultEvent], None]


class FaultReport(Protocol):
    """How everything outside the frame loop writes a fault: ``Pipeline.report_fault`` (or,
    for a part built before its pipeline, ``edge.runtime.pipeline.fault_reporter`` on the
    registry the pipeline is then given). Raise (``active``) or clear; True when that changed
    the fault's state."""

    def __call__(self, fault: Fault, active: bool, **detail: Any) -> bool: ...


class FaultRegistry:
    """Active faults with their raise time; raising an active fault or clearing an inactive one
    does nothing (so the frame loop can call it every frame)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._active: dict[Fault, ActiveFault] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(event)`` on every raise and clear (from the frame loop's thread)."""
        self._listeners.append(listener)

    def raise_(self, fault: Fault, **detail: Any) -> bool:
        """Mark ``fault`` active; True when it was not active before."""
        with self._lock:
            if fault in self._active:
                return False
            now = self._clock()
            self._active[fault] = ActiveFault(fault, now, detail)
            event = FaultEvent(fault, True, now, now, detail, frozenset(self._active))
        log.warning("fault_raised", fault=fault.value, **detail)
        self._emit(event)
        return True

    def clear(self, fault: Fault, **detail: Any) -> bool:
        """Mark ``fault`` cleared; True when it was active."""
        with self._lock:
            was = self._active.pop(fault, None)
            if was is None:
                return False
            now = self._clock()
            event = FaultEvent(fault, False, now, was.raised_at, detail, frozenset(self._active))
        log.info("fault_cleared", fault=fault.value, active_s=round(now - was.raised_at, 1),
                 **detail)
        self._emit(event)
        return True

    def set(self, fault: Fault, active: bool, **detail: Any) -> bool:
        return self.raise_(fault, **detail) if active else self.clear(fault, **detail)

    def is_active(self, fault: Fault) -> bool:
        with self._lock:
            return fault in self._active

    def active(self) -> dict[Fault, ActiveFault]:
        """A copy of the active faults."""
        with self._lock:
            return dict(self._active)

    def _emit(self, event: FaultEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a broken publisher must not stop the frame loop
                log.error("fault_listener_failed", fault=event.fault.value, error=str(exc))
