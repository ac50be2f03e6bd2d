"""The floor light: a relay on a GPIO pin, driven through gpiozero's injectable pin factory.

The real relay and the simulated one are the same class; only the pin factory differs (gpiozero's
MockFactory in the simulator and tests, lgpio on a Raspberry Pi 5, gpiozero's pick elsewhere).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import structlog

log = structlog.get_logger("stopsafe.light")


class LightError(RuntimeError):
    pass


@runtime_checkable
class Light(Protocol):
    def set(self, on: bool) -> bool:
        """Switch; returns the state read back from the pin."""

    def read(self) -> bool:
        """The state read back from the pin."""

    def close(self) -> None:
        """Switch off, then release the pin."""


def make_pin_factory(name: str | None) -> Any:
    """A gpiozero pin factory by name; None leaves the choice to gpiozero (and its env var)."""
    if name is None:
        return None
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory()
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
        if name == "pigpio":
            from gpiozero.pins.pigpio import PiGPIOFactory

            return PiGPIOFactory()
        if name == "native":
            from gpiozero.pins.native import NativeFactory

            return NativeFactory()
    except Exception as exc:  # a missing library or no GPIO chip on this machine
        raise LightError(f"pin factory {name!r} is not usable here: {exc}") from exc
    raise LightError(f"unknown pin factory {name!r}")


class RelayLight:
    """A relay on ``pin`` (BCM). Starts off; every switch is read back from the pin."""

    def __init__(self, pin: int, *, active_high: bool, pin_factory: Any = None) -> None:
        from gpiozero import DigitalOutputDevice

        try:
            self.device = DigitalOutputDevice(
                pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
            )
        except Exception as exc:
            raise LightError(f"cannot set up the relay on GPIO{pin}: {exc}") from exc
        self.pin = pin
        self.readback_mismatches = 0

    def set(self, on: bool) -> bool:
        if on:
            self.device.on()
        else:
            self.device.off()
        state = self.read()
        if state != on:  # raised (and logged, once) as light_readback by the pipeline
            self.readback_mismatches += 1
        return state

    def read(self) -> bool:
        return bool(self.device.value)

    def close(self) -> None:
        # gpiozero restores the pin's previous state on close: switch off explicitly first
        if self.device.closed:
            return
        try:
            self.device.off()
        finally:
            self.device.close()
