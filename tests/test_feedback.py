"""Lamp feedback on gpiozero's mock pins: lamp_failed / lamp_stuck_on and the fault registry."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from actuators.feedback import LampFeedback, LampMonitor
from actuators.light import RelayLight
from edge.config import ConfigError, parse_config
from edge.runtime.assembly import build_feedback, build_light
from edge.runtime.faults import Fault, FaultRegistry
from sim.scripted import FakeClock, ScriptedDetector, ScriptedSource, scripted_stop
from tests.helpers import person

RELAY, LAMP = 17, 27


@pytest.fixture
def rig():
    """A relay and a feedback input on one mock factory; the test plays the lamp."""
    factory = MockFactory()
    faults = FaultRegistry(clock=lambda: 0.0)
    relay = RelayLight(RELAY, active_high=True, pin_factory=factory)
    fb = LampFeedback(LAMP, follow_s=2.0, active_high=True, pull_up=False, pin_factory=factory,
                      faults=faults)
    yield relay, fb, factory.pin(LAMP), faults
    fb.close()
    relay.close()


def test_lamp_that_does_not_follow_the_relay_raises_lamp_failed_and_clears_when_it_lights(rig):
    relay, fb, lamp, faults = rig
    relay.set(True)
    assert not fb.check(True, 10.0).failed  # just switched: the lamp has follow_s to light
    assert not fb.check(True, 11.9).failed
    check = fb.check(True, 12.0)
    assert check.failed and check.changed and not check.lamp_on
    assert faults.is_active(Fault.LAMP_FAILED)
    relay.set(False)
    assert fb.check(False, 13.0).failed  # relay off: no news about the lamp, fault stays
    relay.set(True)
    fb.check(True, 20.0)
    lamp.drive_high()  # the lamp draws current again
    check = fb.check(True, 20.5)
    assert check.lamp_on and not check.failed and check.changed
    assert not faults.is_active(Fault.LAMP_FAILED)


def test_a_lamp_that_lights_in_time_raises_nothing(rig):
    relay, fb, lamp, faults = rig
    relay.set(True)
    fb.check(True, 0.0)
    lamp.drive_high()
    for t in (0.5, 2.0, 10.0):
        assert not fb.check(True, t).failed
    relay.set(False)
    lamp.drive_low()
    assert not fb.check(False, 11.0).stuck_on
    assert faults.active() == {}


def test_a_lamp_that_stays_lit_with_the_relay_off_raises_lamp_stuck_on(rig):
    _relay, fb, lamp, faults = rig
    lamp.drive_high()
    fb.check(False, 0.0)
    assert not fb.check(False, 1.0).stuck_on
    assert fb.check(False, 2.0).stuck_on
    assert faults.is_active(Fault.LAMP_STUCK_ON) and not faults.is_active(Fault.LAMP_FAILED)
    lamp.drive_low()
    assert not fb.check(False, 3.0).stuck_on
    assert not faults.is_active(Fault.LAMP_STUCK_ON)


@pytest.mark.parametrize("active_high,pull_up", [(True, False), (False, True), (False, False),
                                                 (True, True)])
def test_input_polarity_and_pulls(active_high, pull_up):
    factory = MockFactory()
    fb = LampFeedback(LAMP, follow_s=1.0, active_high=active_high, pull_up=pull_up,
                      pin_factory=factory)
    pin = factory.pin(LAMP)
    pin.drive_high()
    assert fb.read() is active_high
    pin.drive_low()
    assert fb.read() is (not active_high)
    fb.close()


def test_monitor_timing_restarts_with_every_relay_switch():
    m = LampMonitor(follow_s=1.0)
    m.update(True, False, 0.0)
    m.update(False, False, 0.9)
    assert not m.update(True, False, 1.5).failed  # on again at 1.5: its own second to light
    assert m.update(True, False, 2.5).failed


def test_registry_logs_once_and_keeps_raise_times():
    times = iter([100.0, 130.0])
    reg = FaultRegistry(clock=lambda: next(times))
    events = []
    reg.subscribe(events.append)
    assert reg.raise_(Fault.LAMP_FAILED, pin=27)
    assert not reg.raise_(Fault.LAMP_FAILED, pin=27)  # already active: no second event
    assert reg.active()[Fault.LAMP_FAILED].raised_at == 100.0
    assert reg.clear(Fault.LAMP_FAILED)
    assert not reg.clear(Fault.LAMP_FAILED)
    assert [(e.fault, e.active, e.at, e.raised_at) for e in events] == [
        (Fault.LAMP_FAILED, True, 100.0, 100.0), (Fault.LAMP_FAILED, False, 130.0, 100.0)]


def test_feedback_pin_must_differ_from_the_relay_pin():
    with pytest.raises(ConfigError, match=r"lamp_feedback\.pin 17"):
        parse_config({"lamp_feedback": {"pin": 17}}, "x.yaml")


def test_simulated_box_has_a_working_lamp_wired_to_the_relay():
    """With the mock factory the built relay drives the feedback input (any polarity)."""
    for extra in ({}, {"active_high": False, "pull_up": True}):
        cfg = parse_config({"lamp_feedback": {"pin": 5, **extra}})
        light = build_light(cfg, "mock")
        fb = build_feedback(cfg, light, None)
        assert fb.read() is False
        light.set(True)
        assert fb.read() is True
        light.set(False)
        assert fb.read() is False
        fb.close()
        light.close()


def test_pipeline_raises_lamp_failed_from_the_frame_loop_and_shows_it_in_records():
    """A waiting person lights the stop; the lamp never draws current -> lamp_failed, surfaced
    in the registry, its listeners and every later record."""
    cfg = parse_config({"lamp_feedback": {"pin": LAMP, "follow_s": 1.0},
                        "light": {"pin_factory": "mock"}})
    factory = MockFactory()
    # the lamp input is not wired: broken
    light = RelayLight(cfg.light.pin, active_high=cfg.light.active_high, pin_factory=factory)
    clock = FakeClock()
    records = []

    class Keep:
        def on_record(self, r):
            records.append((clock.t, r.light_on, r.faults))

        def close(self):
            pass

    stop = scripted_stop(cfg, ScriptedSource(lambda i: "frame" if i < 60 else "end", clock),
                         ScriptedDetector(clock, lambda t: [person(0.5, 0.8)]), clock,
                         sinks=[Keep()], light=light)
    assert stop.feedback is not None
    stop.run()
    on_at = next(t for t, on, _ in records if on)
    failed_at = next(t for t, _, f in records if Fault.LAMP_FAILED in f)
    assert 1.0 <= failed_at - on_at <= 1.0 + 0.2 + 1e-9  # within one frame after follow_s
    assert Fault.LAMP_FAILED in records[-1][2]
    stop.close()
