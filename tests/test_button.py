"""The waiting button on gpiozero's mock pins: a press lights an empty stop within 0.5 s for
button.for_s, is an event of its own, bounces count once, and a button held down is a fault
that ends the press instead of lighting the stop for ever."""

from __future__ import annotations

import threading
import time

from edge.config import parse_config
from edge.decision.events import ButtonPressed
from edge.decision.light_rules import LightReason
from edge.runtime.faults import Fault
from sim.scripted import RealtimeSource, ScriptedDetector, scripted_stop
from tests.test_bus_live import ZONE, Events, wait_for

BUTTON_PIN = 5
FOR_S = 1.5
STUCK_S = 1.0


def _run(**button):
    cfg = parse_config({"stop": {"id": "b1"}, "zone": {"polygon": ZONE},
                        "light": {"hold_s": 0.5}, "tracker": {"confirm_hits": 1},
                        "button": {"pin": BUTTON_PIN, "for_s": FOR_S, "stuck_s": STUCK_S,
                                   **button}})
    source = RealtimeSource(fps=20.0)
    sink = Events()
    stop = scripted_stop(cfg, source, ScriptedDetector(source, lambda t: []), time.monotonic,
                         sinks=[sink])
    thread = threading.Thread(target=stop.run, daemon=True)
    thread.start()
    factory = stop.pipeline.light.device.pin_factory
    return stop, thread, sink, factory.pin(BUTTON_PIN), stop.pipeline.light.device.pin


def _close(stop, thread) -> None:
    stop.pipeline.stop_event.set()
    thread.join(timeout=5)
    stop.close()


def test_press_lights_an_empty_stop_within_half_a_second_for_for_s():
    stop, thread, sink, button, relay = _run()
    try:
        time.sleep(0.3)
        assert not relay.state and not stop.controller.state.light
        button.drive_low()  # pressed (pull-up: the button connects the pin to ground)
        t0 = time.monotonic()
        took = wait_for(lambda: relay.state, 2.0)
        assert took is not None and took <= 0.5, took
        assert stop.controller.state.reason is LightReason.BUTTON
        button.drive_high()
        off = wait_for(lambda: not relay.state, FOR_S + 2.0)
        assert off is not None
        lit_s = time.monotonic() - t0
        assert FOR_S - 0.1 <= lit_s <= FOR_S + 0.5, lit_s
        (ev,) = sink.of(ButtonPressed)
        assert ev.payload() == {"kind": "button", "for_s": FOR_S, "t": round(ev.t, 3)}
    finally:
        _close(stop, thread)


def test_bounces_are_one_press():
    stop, thread, sink, button, relay = _run(bounce_s=0.2)
    try:
        time.sleep(0.2)
        for _ in range(5):  # a contact that chatters for 50 ms
            button.drive_low()
            time.sleep(0.005)
            button.drive_high()
            time.sleep(0.005)
        assert wait_for(lambda: relay.state, 1.0) is not None
        time.sleep(0.3)
        assert len(sink.of(ButtonPressed)) == 1
        assert button.bounce == 0.2  # handed to the pin too (lgpio debounces there)
    finally:
        _close(stop, thread)


def test_held_button_is_a_fault_not_a_light_for_ever():
    stop, thread, sink, button, relay = _run()
    faults = stop.faults
    try:
        time.sleep(0.2)
        button.drive_low()  # and held (jammed, or someone leaning on it)
        assert wait_for(lambda: relay.state, 1.0) is not None
        assert wait_for(lambda: faults.is_active(Fault.BUTTON_STUCK), STUCK_S + 1.0)
        # the press ended with the fault: dark again while the button is still held
        assert wait_for(lambda: not relay.state, 1.0) is not None
        time.sleep(FOR_S + 0.5)  # well past for_s: still dark, still held, one press
        assert not relay.state and faults.is_active(Fault.BUTTON_STUCK)
        assert len(sink.of(ButtonPressed)) == 1
        button.drive_high()
        assert wait_for(lambda: not faults.is_active(Fault.BUTTON_STUCK), 1.0) is not None
        button.drive_low()  # a real press after it works again
        assert wait_for(lambda: relay.state, 1.0) is not None
        button.drive_high()
    finally:
        _close(stop, thread)
