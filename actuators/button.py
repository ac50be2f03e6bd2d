"""The waiting button: a push button on a GPIO input (gpiozero ``Button``, debounced).

A press calls ``on_press`` once (from gpiozero's thread); a button held for ``stuck_s`` calls
``on_stuck(True)`` (a jammed or vandalised button must not light the stop for ever), and its
release ``on_stuck(False)``. What a press means is the controller's.

``bounce_s`` goes to the pin (lgpio debounces in the library); not every pin factory honours it
(gpiozero's mock pins keep it without applying it), so a press within ``bounce_s`` of the last
one is also dropped here, counted in ``bounces``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class WaitingButton:
    def __init__(self, pin: int, *, pull_up: bool, bounce_s: float, stuck_s: float,
                 on_press: Callable[[], None], on_stuck: Callable[[bool], None],
                 pin_factory: Any = None) -> None:
        from gpiozero import Button

        self.device = Button(pin, pull_up=pull_up, bounce_time=bounce_s, hold_time=stuck_s,
                             pin_factory=pin_factory)
        self.presses = 0
        self.bounces = 0
        self.stuck = False
        self.bounce_s = bounce_s
        self._last_press: float | None = None
        self._on_press, self._on_stuck = on_press, on_stuck
        self.device.when_pressed = self._pressed
        self.device.when_held = self._held
        self.device.when_released = self._released

    def _pressed(self) -> None:
        now = time.monotonic()
        if self._last_press is not None and now - self._last_press < self.bounce_s:
            self.bounces += 1
            return
        self._last_press = now
        self.presses += 1
        self._on_press()

    def _held(self) -> None:
        self.stuck = True
        self._on_stuck(True)

    def _released(self) -> None:
        if self.stuck:
            self.stuck = False
            self._on_stuck(False)

    def close(self) -> None:
        self.device.close()
