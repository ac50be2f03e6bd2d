"""The light's own rules and the blind clock; the precedence over them is the controller's.

``LightRules`` says what the light would do on its own: on while someone is waiting, held
``hold_s`` after the last waiting person was last seen, never off before ``min_on_s``.
``FailSafe`` says how long the stop has been blind and what ``fail_state`` wants then. Which of
them wins, against a manual mode and the operating hours, is decided in one place only:
:func:`edge.decision.controller.light_wanted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edge.decision.timing import lasted


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
    BUTTON = "button"  # the waiting button was pressed (for button.for_s)


class LightPattern(str, Enum):
    """How a light that is on shows: steady, or the attention pattern while a bus is near and
    someone waits (a blink of the relay, or a second output for a beacon)."""

    STEADY = "steady"
    ATTENTION = "attention"


@dataclass(frozen=True, slots=True)
class LightDecision:
    """What the rules want on a frame (before mode, hours and the fail-safe)."""

    on: bool
    reason: LightReason


class LightRules:
    """The automatic light. Pure: every call is given the time; nothing is read.

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
        self.on_since: float | None = None

    def reset(self) -> None:
        self.on, self.on_since, self.blocked = False, None, None

    def shift(self, dt: float) -> None:
        """Blind time skipped: the minimum on-time resumes where it was."""
        if self.on_since is not None:
            self.on_since += dt

    def update(self, now: float, waiting: int, last_waiting_seen: float | None,
               waiting_ids: frozenset[int] = frozenset()) -> LightDecision:
        """``waiting_ids``: who is waiting (track ids), for ``max_on_s``'s scene change."""
        self._check_max_on(now, waiting, waiting_ids)
        on, reason = self._want(now, waiting, last_waiting_seen)
        if on != self.on:
            self.on_since = now if on else None
        self.on = on
        return LightDecision(on, reason)

    def _check_max_on(self, now: float, waiting: int, ids: frozenset[int]) -> None:
        if self.blocked is not None and (waiting == 0 or not ids <= self.blocked):
            self.blocked = None  # the scene changed: the rules decide again
        if (self.max_on_s is not None and self.blocked is None and self.on
                and self.on_since is not None and lasted(self.on_since, now, self.max_on_s)):
            self.blocked = ids

    def _want(self, now: float, waiting: int, last_seen: float | None
              ) -> tuple[bool, LightReason]:
        if self.blocked is not None:
            return False, LightReason.MAX_ON
        if waiting > 0:
            return True, LightReason.WAITING
        if self.on:
            if last_seen is not None and not lasted(last_seen, now, self.hold_s):
                return True, LightReason.HOLD
            if self.on_since is not None and not lasted(self.on_since, now, self.min_on_s):
                return True, LightReason.MIN_ON
        return False, LightReason.NOBODY_WAITING


class FailState(str, Enum):
    """What the light does while the daemon is blind."""

    ON = "on"
    OFF = "off"
    LAST = "last"


@dataclass(frozen=True, slots=True)
class FailSafeState:
    active: bool  # blind for at least after_s (or a picture fault): fail_state applies
    on: bool | None  # what fail_state wants while active; None when not active
    blind_s: float  # since the last frame that was seen and decided on


class FailSafe:
    """The blind clock. Pure: every call is given the time.

    ``seen(now)`` on every frame that was read and decided on; ``blind(now, ...)`` on every cycle
    that saw nothing (no frame within the camera's timeout, the detector raising, an unusable
    picture). Blind for ``after_s`` or longer (at once for a picture fault, which has held for
    its own time already) it engages and wants ``fail_state`` (``last``: the light as it was when
    it engaged). The blind clock starts at ``start`` (daemon start), so a camera that never
    delivers engages it too.
    """

    def __init__(self, fail_state: FailState, after_s: float, start: float) -> None:
        self.fail_state = fail_state
        self.after_s = after_s
        self.last_ok = start
        self.active = False
        self._held = False

    def seen(self, now: float) -> FailSafeState:
        self.active, self.last_ok = False, now
        return FailSafeState(False, None, 0.0)

    def blind(self, now: float, light_on: bool, *, immediate: bool = False) -> FailSafeState:
        if not self.active and (immediate or lasted(self.last_ok, now, self.after_s)):
            self.active, self._held = True, light_on
        return self.hold(now)

    def hold(self, now: float) -> FailSafeState:
        """As it is, neither seen nor blind (a picture that shows nothing yet has no fault)."""
        blind_s = max(0.0, now - self.last_ok)
        if not self.active:
            return FailSafeState(False, None, blind_s)
        on = {FailState.ON: True, FailState.OFF: False, FailState.LAST: self._held}[
            self.fail_state]
        return FailSafeState(True, on, blind_s)
