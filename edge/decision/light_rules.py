"""When the floor light is on: waiting people, hold, minimum on-time, schedule, overrides."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LightMode(str, Enum):
    AUTO = "AUTO"
    FORCE_ON = "FORCE_ON"
    FORCE_OFF = "FORCE_OFF"


class LightReason(str, Enum):
    STARTUP = "startup"
    WAITING = "waiting"
    HOLD = "hold"
    MIN_ON = "min_on"
    NOBODY_WAITING = "nobody_waiting"
    OUT_OF_HOURS = "out_of_hours"
    FORCED_ON = "forced_on"
    FORCED_OFF = "forced_off"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class LightDecision:
    on: bool
    reason: LightReason
    changed: bool


class LightRules:
    """The light's state machine. Pure: every call is given the time; nothing is read.

    On while someone is waiting; off ``hold_s`` after the last waiting person was last seen in
    the zone, but never before ``min_on_s`` after it came on. Outside operating hours it is off.
    A manual mode (the maintenance override) wins over all of that until it expires.
    """

    def __init__(self, hold_s: float, min_on_s: float) -> None:
        self.hold_s = hold_s
        self.min_on_s = min_on_s
        self.on = False
        self.reason = LightReason.STARTUP
        self.on_since: float | None = None
        self.mode = LightMode.AUTO
        self.mode_until: float | None = None

    def set_mode(self, mode: LightMode, now: float, for_s: float | None = None) -> None:
        """Manual override; with ``for_s`` it falls back to AUTO when that time has passed."""
        self.mode = mode
        self.mode_until = None if for_s is None or mode is LightMode.AUTO else now + for_s

    def reset(self) -> None:
        self.__init__(self.hold_s, self.min_on_s)  # type: ignore[misc]

    def update(
        self, now: float, waiting: int, last_waiting_seen: float | None, in_service: bool
    ) -> LightDecision:
        if self.mode_until is not None and now >= self.mode_until:
            self.mode, self.mode_until = LightMode.AUTO, None
        on, reason = self._want(now, waiting, last_waiting_seen, in_service)
        changed = on != self.on
        if changed:
            self.on_since = now if on else None
        self.on, self.reason = on, reason
        return LightDecision(on, reason, changed)

    def _want(
        self, now: float, waiting: int, last_seen: float | None, in_service: bool
    ) -> tuple[bool, LightReason]:
        if self.mode is LightMode.FORCE_ON:
            return True, LightReason.FORCED_ON
        if self.mode is LightMode.FORCE_OFF:
            return False, LightReason.FORCED_OFF
        if not in_service:
            return False, LightReason.OUT_OF_HOURS
        if waiting > 0:
            return True, LightReason.WAITING
        if self.on:
            if last_seen is not None and now - last_seen < self.hold_s:
                return True, LightReason.HOLD
            if self.on_since is not None and now - self.on_since < self.min_on_s:
                return True, LightReason.MIN_ON
        return False, LightReason.NOBODY_WAITING
