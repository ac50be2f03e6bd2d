"""The relay through gpiozero's own mock pin factory."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from actuators.light import LightError, RelayLight, make_pin_factory
from edge.config import Config
from edge.runtime.assembly import build_light


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_starts_off_switches_and_reads_back(active_high):
    factory = MockFactory()
    light = RelayLight(17, active_high=active_high, pin_factory=factory)
    pin = factory.pin(17)
    assert light.read() is False
    assert pin.state is (not active_high)  # electrically off
    assert light.set(True) is True
    assert pin.state is active_high
    assert light.set(False) is False
    assert pin.state is (not active_high)
    light.set(True)
    light.close()
    assert light.device.closed


def test_close_switches_off_before_release():
    factory = MockFactory()
    light = RelayLight(17, active_high=True, pin_factory=factory)
    pin = factory.pin(17)
    history = []
    light.set(True)
    orig = pin._set_state

    def spy(value):
        history.append(value)
        orig(value)

    pin._set_state = spy
    light.close()
    assert history and history[0] is False  # driven low (off) before gpiozero releases it


def test_readback_mismatch_is_counted():
    factory = MockFactory()
    light = RelayLight(22, active_high=True, pin_factory=factory)
    light.device._write = lambda value: None  # a relay driver that ignores us
    assert light.set(True) is False
    assert light.readback_mismatches == 1


def test_pin_factory_from_environment(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    light = build_light(Config())
    assert type(light.device.pin_factory).__name__ == "MockFactory"
    light.close()


def test_pin_factory_from_config_wins(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "lgpio")
    cfg = Config.model_validate({"light": {"pin_factory": "mock", "pin": 23}})
    light = build_light(cfg)
    assert type(light.device.pin_factory).__name__ == "MockFactory"
    light.close()


def test_unusable_pin_factory_is_a_clear_error():
    with pytest.raises(LightError, match=r"not usable here|unknown"):
        make_pin_factory("pigpio-nonexistent")
