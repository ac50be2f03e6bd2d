"""The stop with an arrivals feed from a real HTTP server on loopback: the attention pattern
within one poll of a bus coming near while someone waits, back to steady when it stopped or
passed, one ``bus`` event per arrival, and a feed that dies is a fault while the light goes on
working. GTFS-realtime from the real NYC series (one train, re-timed), and the TAGO JSON."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from edge.config import parse_config
from edge.decision.events import BusArrived, LightSwitched
from edge.decision.light_rules import LightPattern
from edge.runtime.faults import Fault
from sim.scripted import RealtimeSource, ScriptedDetector, scripted_stop
from tests.bus_fixtures import NYC, FeedServer, nyc_snapshots, one_trip
from tests.helpers import person

ZONE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
POLL_S = 1.0
TRIP, STOP = "001400_E..N", "A27N"  # approaches A27N from A28N, stops, goes on to A25N
FAR, NEAR, AT, BEYOND = 0, 3, 6, 9  # snapshots of the series (see test_arrivals)


class Events:
    def __init__(self) -> None:
        self.events: list[object] = []

    def on_record(self, r) -> None:
        self.events.extend(r.events)

    def close(self) -> None:
        pass

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def _cfg(url: str, **arrivals) -> object:
    return parse_config({
        "stop": {"id": "bus1"}, "zone": {"polygon": ZONE}, "waiting": {"dwell_s": 0.3},
        "light": {"hold_s": 0.5}, "tracker": {"confirm_hits": 1},
        "arrivals": {"enabled": True, "urls": [url], "stop_id": STOP, "poll_s": POLL_S,
                     "stale_s": 2 * POLL_S, "fault_after": 2, "near_s": 120, "near_stops": 1,
                     **arrivals},
        "attention": {"pattern": "blink", "on_s": 0.1, "off_s": 0.1}})


class Running:
    """A stop running on real time in its own thread; ``someone`` says whether a person
    stands in the zone."""

    def __init__(self, cfg) -> None:
        self.someone = True
        self.source = RealtimeSource(fps=20.0)
        det = ScriptedDetector(self.source, lambda t: [person(0.5, 0.8)] if self.someone
                               else [])
        self.sink = Events()
        self.stop = scripted_stop(cfg, self.source, det, time.monotonic, sinks=[self.sink])
        self.thread = threading.Thread(target=self.stop.run, daemon=True)
        self.thread.start()

    @property
    def state(self):
        return self.stop.controller.state

    def close(self) -> None:
        self.stop.pipeline.stop_event.set()
        self.thread.join(timeout=5)
        self.stop.close()


def wait_for(cond: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``cond`` held, None when it did not within ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


@pytest.fixture
def nyc():
    if not NYC.is_dir():
        pytest.skip("shared feeds not found")
    return nyc_snapshots()


def _serve(server: FeedServer, msg) -> None:
    server.body = one_trip(msg, TRIP, time.time())


def test_gtfs_attention_within_one_poll_then_stopped(nyc):
    server = FeedServer()
    _serve(server, nyc[FAR])
    run = Running(_cfg(server.url))
    try:
        assert wait_for(lambda: run.state.light and server.hits >= 2, 5.0) is not None
        assert run.state.pattern is LightPattern.STEADY  # 224 s and 2 stops away: not near
        _serve(server, nyc[NEAR])
        took = wait_for(lambda: run.state.pattern is LightPattern.ATTENTION, 3 * POLL_S)
        assert took is not None and took <= POLL_S + 0.5, took
        pin = run.stop.pipeline.light.device.pin
        seen = set()
        wait_for(lambda: seen.add(pin.state) or len(seen) == 2, 1.0)  # the relay blinks
        assert seen == {True, False}
        _serve(server, nyc[AT])
        took = wait_for(lambda: run.state.pattern is LightPattern.STEADY, 3 * POLL_S)
        assert took is not None and took <= POLL_S + 0.5, took
        assert run.state.light and pin.state  # steady on again
        _serve(server, nyc[BEYOND])
        assert wait_for(lambda: run.sink.of(BusArrived), 3 * POLL_S) is not None
        (bus,) = run.sink.of(BusArrived)
        assert (bus.outcome, bus.waiting, bus.light_on, bus.trip_id, bus.route_id) == (
            "stopped", True, True, TRIP, "E")
        assert bus.waited_s is not None and bus.waited_s > 0
        assert not any(e.on is False for e in run.sink.of(LightSwitched))  # never went dark
    finally:
        run.close()
        server.close()


def test_gtfs_bus_that_passes_someone_waiting_is_one_passed_event(nyc):
    server = FeedServer()
    _serve(server, nyc[NEAR])
    run = Running(_cfg(server.url))
    try:
        assert wait_for(lambda: run.state.pattern is LightPattern.ATTENTION, 4.0) is not None
        _serve(server, nyc[BEYOND])  # the feed never reported it at the stop
        assert wait_for(lambda: run.sink.of(BusArrived), 3 * POLL_S) is not None
        assert run.state.pattern is LightPattern.STEADY
        time.sleep(2 * POLL_S)  # further polls of the same feed: no second event
        (bus,) = run.sink.of(BusArrived)
        assert (bus.outcome, bus.waiting, bus.light_on) == ("passed", True, True)
        p = bus.payload()
        assert p["kind"] == "bus" and p["waiting"] is True
        assert p["arrived_at"] == p["left_at"] is not None and p["stopped_from"] is None
    finally:
        run.close()
        server.close()


def test_feed_that_dies_is_a_fault_and_the_light_keeps_working(nyc):
    server = FeedServer()
    _serve(server, nyc[NEAR])
    run = Running(_cfg(server.url))
    faults = run.stop.faults
    try:
        assert wait_for(lambda: run.state.pattern is LightPattern.ATTENTION, 4.0) is not None
        server.status = 503
        took = wait_for(lambda: faults.is_active(Fault.ARRIVALS_FEED), 5 * POLL_S)
        assert took is not None
        assert "503" in faults.active()[Fault.ARRIVALS_FEED].detail["error"]
        # the bus it spoke of is forgotten after stale_s: no attention pattern for ever
        assert wait_for(lambda: run.state.pattern is LightPattern.STEADY, 4 * POLL_S)
        assert run.state.light
        run.someone = False  # the light still follows the camera
        assert wait_for(lambda: not run.state.light, 3.0) is not None
        assert not run.stop.pipeline.light.device.pin.state
        run.someone = True
        assert wait_for(lambda: run.state.light, 3.0) is not None
        server.status = 200
        assert wait_for(lambda: not faults.is_active(Fault.ARRIVALS_FEED), 3 * POLL_S)
        server.close()  # gone altogether: no answer at all
        assert wait_for(lambda: faults.is_active(Fault.ARRIVALS_FEED), 5 * POLL_S)
        assert run.state.light and run.thread.is_alive()
    finally:
        run.close()


def test_attention_on_a_second_output_keeps_the_light_steady(nyc):
    server = FeedServer()
    _serve(server, nyc[NEAR])
    cfg = _cfg(server.url)
    cfg.attention.pin, cfg.attention.pattern = 6, "output"
    run = Running(cfg)
    try:
        factory = run.stop.pipeline.light.device.pin_factory
        beacon, relay = factory.pin(6), run.stop.pipeline.light.device.pin
        assert wait_for(lambda: beacon.state, 4.0) is not None
        seen = set()
        wait_for(lambda: seen.add(relay.state) or False, 0.5)
        assert seen == {True}  # the floor light steady while the beacon shows the bus
        _serve(server, nyc[AT])
        assert wait_for(lambda: not beacon.state, 3 * POLL_S) is not None
        assert relay.state
    finally:
        run.close()
        server.close()
    assert not beacon.state  # released at the end
