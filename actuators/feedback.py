"""Lamp feedback: a GPIO input wired to a current sensor or the relay's auxiliary contact.

A relay that clicks says nothing about the lamp: a blown lamp, a broken wire or a dead relay coil
all leave the stop dark while the daemon believes it is lit. The input tells. When the relay is on
and the input does not follow within ``follow_s``, ``lamp_failed`` is raised; it clears when the
lamp is seen lit again with the relay on (not merely when the relay goes off, or the fault would
flap with every cycle). The reverse, the input on while the relay has been off for ``follow_s``
(a welded contact), raises ``lamp_stuck_on``, cleared when the input goes off with the relay off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from actuators.light import LightError
from edge.runtime.faults import Fault, FaultRegistry

log = structlog.get_logger("stopsafe.feedback")


@dataclass(frozen=True, slots=True)
class LampCheck:
    relay_on: bool
    lamp_on: bool
    failed: bool  # lamp_failed is active
    stuck_on: bool  # lamp_stuck_on is active
    changed: bool  # either of them changed with this check


class LampMonitor:
    """The fault logic alone. Pure: every call is given the relay state, the input and the time."""

    def __init__(self, follow_s: float) -> None:
        self.follow_s = follow_s
        self.relay_on: bool | None = None
        self.relay_since = 0.0
        self.failed = False
        self.stuck_on = False

    def update(self, relay_on: bool, lamp_on: bool, now: float) -> LampCheck:
        if relay_on != self.relay_on:
            self.relay_on, self.relay_since = relay_on, now
        settled = now - self.relay_since >= self.follow_s
        failed, stuck = self.failed, self.stuck_on
        if relay_on:
            if lamp_on:
                failed = False
            elif settled:
                failed = True
        else:
            if not lamp_on:
                stuck = False
            elif settled:
                stuck = True
        changed = (failed, stuck) != (self.failed, self.stuck_on)
        self.failed, self.stuck_on = failed, stuck
        return LampCheck(relay_on, lamp_on, failed, stuck, changed)


class LampFeedback:
    """The input pin (gpiozero ``DigitalInputDevice``) and its monitor, reporting to faults."""

    def __init__(self, pin: int, *, follow_s: float, active_high: bool,
                 pull_up: bool | None, pin_factory: Any = None,
                 faults: FaultRegistry | None = None) -> None:
        from gpiozero import DigitalInputDevice

        try:
            # with an internal pull the input's active state follows from it; without one
            # gpiozero wants it given
            kw: dict[str, Any] = {"active_state": active_high} if pull_up is None else {}
            self.device = DigitalInputDevice(pin, pull_up=pull_up, pin_factory=pin_factory, **kw)
        except Exception as exc:
            raise LightError(f"cannot set up the lamp feedback input on GPIO{pin}: {exc}") from exc
        self.pin = pin
        self.invert = pull_up is not None and pull_up == active_high
        self.monitor = LampMonitor(follow_s)
        self.faults = faults

    def read(self) -> bool:
        """True while the lamp draws current."""
        value = bool(self.device.value)
        return not value if self.invert else value

    def check(self, relay_on: bool, now: float) -> LampCheck:
        """Compare the input with the relay (call it every frame); raises/clears the faults."""
        result = self.monitor.update(relay_on, self.read(), now)
        if result.changed and self.faults is not None:
            detail = {"pin": self.pin, "follow_s": self.monitor.follow_s}
            self.faults.set(Fault.LAMP_FAILED, result.failed, **detail)
            self.faults.set(Fault.LAMP_STUCK_ON, result.stuck_on, **detail)
        return result

    def close(self) -> None:
        self.device.close()
