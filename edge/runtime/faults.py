"""Faults the daemon knows about, and the registry of those that are active now.

One registry per stop: the one owner of which faults are active. The frame loop writes the
camera, model, picture, relay and lamp faults; the MQTT link its own (``camera_stale``). Every
raise and clear is logged here and only here (``fault_raised`` / ``fault_cleared``) and handed to
the registry's listeners (the pipeline's sinks), so no consumer keeps a second fault set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import structlog

from edge.decision.controller import TickKind
from edge.decision.events import EventKind

log = structlog.get_logger("stopsafe.faults")


class Fault(str, Enum):
    CAMERA_LOST = "camera_lost"  # no frame within camera.timeout_s
    MODEL_FAILED = "model_failed"  # the detector raised on a frame
    LAMP_FAILED = "lamp_failed"  # relay on, lamp-current input did not follow in follow_s
    LAMP_STUCK_ON = "lamp_stuck_on"  # relay off, lamp-current input stayed on for follow_s
    CAMERA_FROZEN = "camera_frozen"  # the same picture for health.frozen_s
    CAMERA_BLACK = "camera_black"  # black picture (lens covered) for health.black_s
    CAMERA_BLURRED = "camera_blurred"  # far less sharp than usual for health.blur_s
    LIGHT_READBACK = "light_readback"  # the relay's pin does not read back what was set
    CAMERA_STALE = "camera_stale"  # (MQTT) no frame for mqtt.camera_stale_s
    STATIC_OBJECT = "static_object"  # a person-shaped box unchanged for static.after_s (boxes)
    LIGHT_MAX_ON = "light_max_on"  # light.max_on_s cut the light until the scene changes
    # (MQTT) the event outbox's disk is full, read-only or gone: events wait in a bounded
    # memory queue (overflow counted in tele events.dropped); cleared when the disk takes them
    OUTBOX_FAILED = "outbox_failed"
    # (MQTT) the outbox file was corrupt: moved aside (kept for a person), a fresh one started;
    # active until the daemon restarts, so someone looks at it
    OUTBOX_CORRUPT = "outbox_corrupt"
    # the config file failed validation at start: the last good config runs (detail: the line)
    CONFIG_REJECTED = "config_rejected"
    # the lamp-current input could not be set up: the light works, its lamp is not checked
    LAMP_INPUT_FAILED = "lamp_input_failed"
    # the daemon is ending on an error (left retained with status 'failed', with the reason)
    DAEMON_FAILED = "daemon_failed"
    # the MQTT service cannot start (its password file unreadable): the light runs without it,
    # and it is tried again until it starts (seen in the log and systemd's STATUS meanwhile)
    MQTT_UNUSABLE = "mqtt_unusable"
    # the arrivals feed failed arrivals.fault_after polls in a row (no answer, an error, not a
    # feed): the stop works as without a feed; cleared by the next good poll
    ARRIVALS_FEED = "arrivals_feed"
    # the waiting button held for button.stuck_s: its press ended; cleared when released
    BUTTON_STUCK = "button_stuck"
    # the bus-side webhook has not taken the waiting changes (they wait in its outbox)
    WEBHOOK_FAILED = "webhook_failed"


PICTURE_FAULTS = (Fault.CAMERA_FROZEN, Fault.CAMERA_BLACK, Fault.CAMERA_BLURRED)
# the cycle a fault makes while it is active (the frame loop ticks the controller with it;
# camera_stale is the link's name for a loop that gets no frame)
FAULT_TICK: dict[Fault, TickKind] = {
    Fault.CAMERA_LOST: TickKind.NO_FRAME, Fault.CAMERA_STALE: TickKind.NO_FRAME,
    Fault.MODEL_FAILED: TickKind.NO_FRAME,
    **{f: TickKind.PICTURE_FAULT for f in PICTURE_FAULTS},
}
# while any of these is active the stop cannot see who is waiting (the history's "hours
# blind"): what "blind" means is the controller's (``TickKind.sees``), written once there
BLIND_FAULTS = tuple(f for f, tick in FAULT_TICK.items() if not tick.sees)


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


class FaultRegistry:
    """Active faults with their raise time; raising an active fault or clearing an inactive one
    does nothing (so the frame loop can call it every frame)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._active: dict[Fault, ActiveFault] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.history: list[FaultEvent] = []  # the last few events, newest last

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
        self.history = [*self.history[-49:], event]
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a broken publisher must not stop the frame loop
                log.error("fault_listener_failed", fault=event.fault.value, error=str(exc))
