"""The light's attention pattern (a bus is near while someone waits), on gpiozero devices.

``blink``: the floor light's own relay blinks (gpiozero's ``blink`` runs it in the background;
switching the relay on or off stops it). ``output``: a second relay, e.g. a beacon, is on.
They are told what to show every cycle and switch only on a change.
"""

from __future__ import annotations

from typing import Any, Protocol


class Attention(Protocol):
    blinking: bool  # the light relay's pin is driven by the blink (no read-back check)

    def show(self, attention: bool, light_on: bool) -> None: ...

    def close(self) -> None: ...


class BlinkAttention:
    """Blinks the relay behind ``light`` (a RelayLight or a wrapper of one)."""

    def __init__(self, light: Any, on_s: float, off_s: float) -> None:
        self.device = light.device
        self.on_s, self.off_s = on_s, off_s
        self.blinking = False

    def show(self, attention: bool, light_on: bool) -> None:
        want = attention and light_on
        if want and not self.blinking:
            self.device.blink(on_time=self.on_s, off_time=self.off_s, background=True)
            self.blinking = True
        elif not want and self.blinking:
            self.blinking = False
            (self.device.on if light_on else self.device.off)()  # stops the blink thread

    def close(self) -> None:
        self.blinking = False  # the relay's own close switches it off


class BeaconAttention:
    """A second output (a beacon's relay) on while the pattern is wanted."""

    blinking = False

    def __init__(self, pin: int, active_high: bool, pin_factory: Any) -> None:
        from gpiozero import DigitalOutputDevice

        self.device = DigitalOutputDevice(pin, active_high=active_high, initial_value=False,
                                          pin_factory=pin_factory)

    def show(self, attention: bool, light_on: bool) -> None:
        want = attention and light_on
        if bool(self.device.value) != want:
            self.device.value = want

    def close(self) -> None:
        if not self.device.closed:
            self.device.off()
            self.device.close()
