"""The camera's "did the bus stop?" on scripted detections (sim/scripted.py): a bus that stands
in the kerb zone has stopped, one that drives through has passed, and while a standing bus hides
the waiting people the stop does not conclude they left."""

from __future__ import annotations

from detector.base import Detection
from edge.config import parse_config
from edge.decision.events import BusArrived, WaitingEnded
from sim.scripted import FakeClock, ScriptedDetector, ScriptedSource, scripted_stop
from tests.helpers import person
from tests.test_bus_live import Events

PAVEMENT = [(0.0, 0.5), (1.0, 0.5), (1.0, 0.8), (0.0, 0.8)]
KERB = [(0.0, 0.8), (1.0, 0.8), (1.0, 1.0), (0.0, 1.0)]
T0 = 1000.0


def bus_at(x: float) -> Detection:
    """A bus whose box spans 0.8 of the frame from ``x``, standing on the road (y 0.95)."""
    return Detection(x, 0.35, x + 0.8, 0.95, 0.9)


def run(people, buses, seconds: float, kerb: bool = True) -> Events:
    cfg = parse_config({"stop": {"id": "k1"}, "zone": {"polygon": PAVEMENT},
                        "waiting": {"dwell_s": 1.0}, "light": {"hold_s": 1.0},
                        "tracker": {"confirm_hits": 1},
                        **({"kerb": {"polygon": KERB, "stop_s": 3.0}} if kerb else {})})
    clock = FakeClock(T0)
    n = int(seconds / 0.2)
    source = ScriptedSource(lambda i: "frame" if i < n else "end", clock, dt=0.2)
    sink = Events()
    det = ScriptedDetector(clock, lambda t: people(t - T0), buses=lambda t: buses(t - T0))
    stop = scripted_stop(cfg, source, det, clock, sinks=[sink])
    stop.run()
    stop.close()
    return sink


def standing_bus(t: float) -> list[Detection]:
    if 8.0 <= t < 10.0:  # pulling in
        return [bus_at(-0.5 + (t - 8.0) * 0.3)]
    if 10.0 <= t < 20.0:  # standing
        return [bus_at(0.1)]
    if 20.0 <= t < 22.0:  # pulling out
        return [bus_at(0.1 + (t - 20.0) * 0.3)]
    return []


def hidden_then_boarded(t: float) -> list[Detection]:
    """Waits from 0 s; hidden behind the bus from 9 s; gone (on board) when it leaves."""
    return [person(0.5, 0.7)] if t < 9.0 else []


def test_standing_bus_stopped_and_hides_the_waiting_without_ending_the_wait():
    sink = run(hidden_then_boarded, standing_bus, 30.0)
    (bus,) = sink.of(BusArrived)
    assert (bus.outcome, bus.source, bus.waiting, bus.light_on) == ("stopped", "camera",
                                                                    True, True)
    assert 9.0 <= bus.dwell_s <= 12.0, bus.dwell_s  # stood from about 10 s to 20 s
    assert bus.waited_s is not None and 7.0 <= bus.waited_s <= 9.0
    (end,) = sink.of(WaitingEnded)
    assert end.t - T0 >= 22.0  # the wait ended after the bus left, not while it hid them
    assert bus.t <= end.t + 0.01


def test_without_a_kerb_zone_the_hidden_person_is_taken_to_have_left():
    """The same scene without the kerb zone: the wait ends while the bus stands (what the
    kerb zone prevents)."""
    sink = run(hidden_then_boarded, standing_bus, 30.0, kerb=False)
    (end,) = sink.of(WaitingEnded)
    assert end.t - T0 < 15.0
    assert not sink.of(BusArrived)


def test_bus_driving_through_while_someone_waits_passed():
    def through(t: float) -> list[Detection]:
        return [bus_at(-0.8 + (t - 10.0) * 0.4)] if 10.0 <= t < 15.0 else []

    def stays(t: float) -> list[Detection]:  # hidden while the bus goes by
        return [person(0.5, 0.7)] if not 10.0 <= t < 15.0 else []

    sink = run(stays, through, 25.0)
    (bus,) = sink.of(BusArrived)
    assert (bus.outcome, bus.waiting, bus.dwell_s) == ("passed", True, None)
    assert not sink.of(WaitingEnded)  # still there when it had gone by


def test_a_bus_parked_for_good_does_not_freeze_the_stop():
    def parked(t: float) -> list[Detection]:
        return [bus_at(0.1)] if t >= 5.0 else []

    cfg_people = hidden_then_boarded
    sink = run(cfg_people, parked, 200.0)
    (end,) = sink.of(WaitingEnded)
    assert 180.0 <= end.t - T0 <= 190.0  # max_hide_s (180 s) after the bus came


# ---------------- the feed and the camera together: one bus, one event ----------------
def _controller(match_s: float = 30.0):
    from edge.runtime.assembly import build_controller

    cfg = parse_config({"stop": {"id": "k2"}, "zone": {"polygon": PAVEMENT},
                        "waiting": {"dwell_s": 1.0}, "light": {"hold_s": 1.0},
                        "tracker": {"confirm_hits": 1},
                        "arrivals": {"enabled": True, "stop_id": "S", "stale_s": 1000.0},
                        "kerb": {"polygon": KERB, "stop_s": 3.0, "match_s": match_s}})
    return build_controller(cfg, start=0.0)


def _drive(c, seconds: float, feed: dict, buses, people=lambda t: [person(0.5, 0.7)]):
    """Ticks every 0.2 s; ``feed``: time -> (relation, stops away) of bus 'b1' on route 7."""
    from edge.decision.controller import Tick, TickKind
    from edge.decision.feed import Observation, Snapshot

    events = []
    for i in range(int(seconds / 0.2)):
        t = round(i * 0.2, 3)
        if t in feed:
            rel, away = feed[t]
            c.observe_feed(Snapshot(at=1e9 + t, stop_id="S", observations=(Observation(
                key="b1", relation=rel, trip_id="trip1", route_id="7", stops_away=away,
                eta_s=30.0 if away else None),)), t)
        events += c.tick(Tick(TickKind.DETECTED, t, detections=people(t),
                              buses=buses(t))).events
    return [e for e in events if isinstance(e, BusArrived)]


def test_feed_and_camera_of_one_bus_are_one_event():
    from edge.decision.feed import Relation

    def stands(t: float) -> list[Detection]:
        return [bus_at(0.1)] if 10.0 <= t < 18.0 else []

    # the feed never reports it at the stop (it would say passed); the camera saw it stand
    feed = {2.0: (Relation.APPROACHING, 1), 20.0: (Relation.PAST, None)}
    (bus,) = _drive(_controller(), 60.0, feed, stands)
    assert bus.source == "feed+camera" and bus.outcome == "stopped"
    assert bus.payload()["by_source"] == {"feed": "passed", "camera": "stopped"}
    assert (bus.route_id, bus.trip_id, bus.waiting) == ("7", "trip1", True)
    assert bus.dwell_s is not None and bus.dwell_s >= 4.0  # the camera's dwell


def test_reports_without_a_counterpart_go_out_alone_after_match_s():
    from edge.decision.feed import Relation

    feed = {2.0: (Relation.APPROACHING, 1), 20.0: (Relation.PAST, None)}
    events = _drive(_controller(match_s=10.0), 40.0, feed, lambda t: [])
    (bus,) = events
    assert (bus.source, bus.outcome) == ("feed", "passed") and 30.0 <= bus.t <= 30.5

    def far_later(t: float) -> list[Detection]:  # a visit long after: another bus
        return [bus_at(0.1)] if 50.0 <= t < 56.0 else []

    events = _drive(_controller(match_s=10.0), 80.0, feed, far_later)
    assert [(e.source, e.outcome) for e in events] == [("feed", "passed"),
                                                      ("camera", "stopped")]
