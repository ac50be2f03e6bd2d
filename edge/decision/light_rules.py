"""When the floor light is on: waiting people, hold, minimum on-time, schedule, overrides."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

TIME_EPS = 1e-6  # frame times are sums of floats: compare durations with a little slack


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
    FAILSAFE = "failsafe"
    MAX_ON = "max_on"  # on for light.max_on_s with the same people: off until the scene changes


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

    With ``max_on_s``, a light that has been on that long goes off (``max_on``) and stays off
    until the scene changes: someone who was not waiting at the cut-off starts waiting, or
    nobody is waiting any more. It is the last guard against a false person that lights the
    stop for good; a real crowd that waits longer gets the light back with the next arrival.
    """

    def __init__(self, hold_s: float, min_on_s: float, max_on_s: float | None = None) -> None:
        self.hold_s = hold_s
        self.min_on_s = min_on_s
        self.max_on_s = max_on_s
        self.blocked: frozenset[int] | None = None  # waiting ids when max_on_s cut the light
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
        self.__init__(self.hold_s, self.min_on_s, self.max_on_s)  # type: ignore[misc]

    def current_mode(self, now: float) -> LightMode:
        """The manual mode at ``now``, letting a timed one expire (used while blind too)."""
        if self.mode_until is not None and now >= self.mode_until:
            self.mode, self.mode_until = LightMode.AUTO, None
        return self.mode

    def update(
        self, now: float, waiting: int, last_waiting_seen: float | None, in_service: bool,
        waiting_ids: frozenset[int] = frozenset(),
    ) -> LightDecision:
        """``waiting_ids``: who is waiting (track ids), for ``max_on_s``'s scene change."""
        self.current_mode(now)
        self._check_max_on(now, waiting, waiting_ids)
        on, reason = self._want(now, waiting, last_waiting_seen, in_service)
        changed = on != self.on
        if changed:
            self.on_since = now if on else None
        self.on, self.reason = on, reason
        return LightDecision(on, reason, changed)

    def _check_max_on(self, now: float, waiting: int, ids: frozenset[int]) -> None:
        if self.blocked is not None and (waiting == 0 or not ids <= self.blocked):
            self.blocked = None  # the scene changed: the rules decide again
        if (self.max_on_s is not None and self.blocked is None and self.on
                and self.mode is LightMode.AUTO and self.on_since is not None
                and now - self.on_since >= self.max_on_s - TIME_EPS):
            self.blocked = ids

    def _want(
        self, now: float, waiting: int, last_seen: float | None, in_service: bool
    ) -> tuple[bool, LightReason]:
        if self.mode is LightMode.FORCE_ON:
            return True, LightReason.FORCED_ON
        if self.mode is LightMode.FORCE_OFF:
            return False, LightReason.FORCED_OFF
        if not in_service:
            return False, LightReason.OUT_OF_HOURS
        if self.blocked is not None:
            return False, LightReason.MAX_ON
        if waiting > 0:
            return True, LightReason.WAITING
        if self.on:
            if last_seen is not None and now - last_seen < self.hold_s - TIME_EPS:
                return True, LightReason.HOLD
            if self.on_since is not None and now - self.on_since < self.min_on_s - TIME_EPS:
                return True, LightReason.MIN_ON
        return False, LightReason.NOBODY_WAITING


class FailState(str, Enum):
    """What the light does while the daemon is blind."""

    ON = "on"
    OFF = "off"
    LAST = "last"


@dataclass(frozen=True, slots=True)
class FailSafeDecision:
    active: bool  # the daemon has been blind for at least after_s
    on: bool | None  # the light the fail-safe wants while active; None: the rules decide
    changed: bool  # engaged or released by this call
    blind_s: float  # how long since the last frame that was seen and decided on


class FailSafe:
    """The light while the daemon cannot see. Pure: every call is given the time.

    ``update(now, ok=True)`` on every frame that was read and decided on; ``ok=False`` on every
    failed attempt (no frame within the camera's timeout, the detector raising). Blind for
    ``after_s`` or longer, the fail-safe engages and wants ``fail_state`` (``last``: the light's
    state when it engaged); a manual mode still wins, and outside operating hours the light is
    off. The first good frame releases it. The blind clock starts at ``start`` (daemon start), so
    a camera that never delivers engages it too.
    """

    def __init__(self, fail_state: FailState, after_s: float, start: float) -> None:
        self.fail_state = fail_state
        self.after_s = after_s
        self.last_ok = start
        self.active = False
        self._held = False

    def update(self, now: float, ok: bool, light_on: bool, *, in_service: bool = True,
               mode: LightMode = LightMode.AUTO, immediate: bool = False) -> FailSafeDecision:
        """``immediate``: engage without waiting ``after_s`` (a picture fault that has already
        held for its own time)."""
        if ok:
            changed, self.active, self.last_ok = self.active, False, now
            return FailSafeDecision(False, None, changed, 0.0)
        blind_s = max(0.0, now - self.last_ok)
        changed = False
        if not self.active and (immediate or blind_s >= self.after_s):
            self.active, self._held, changed = True, light_on, True
        if not self.active:
            return FailSafeDecision(False, None, changed, blind_s)
        if mode is LightMode.FORCE_ON:
            on = True
        elif mode is LightMode.FORCE_OFF or not in_service:
            on = False
        else:
            on = {FailState.ON: True, FailState.OFF: False, FailState.LAST: self._held}[
                self.fail_state]
        return FailSafeDecision(True, on, changed, blind_s)
