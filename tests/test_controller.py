"""The stop controller: the precedence as one table, each event exactly once, and the assembled
stop under random sequences of ticks (its light events are the relay's transitions)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.base import DetectorResult
from edge.config import Window, parse_config
from edge.decision.controller import (
    StopController,
    Tick,
    TickKind,
    light_wanted,
)
from edge.decision.events import LightSwitched, ModeChanged, WaitingEnded, WaitingStarted
from edge.decision.light_rules import (
    FailSafeState,
    FailState,
    LightDecision,
    LightMode,
    LightPattern,
    LightReason,
)
from edge.mqtt.service import MqttService
from edge.runtime.frames import CameraError, Frame
from edge.wire import State
from sim.scripted import scripted_stop
from tests.helpers import NoRunner, controller_settings, core_settings, person

ZONE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
ON, OFF = True, False
AUTO, F_ON, F_OFF = LightMode.AUTO, LightMode.FORCE_ON, LightMode.FORCE_OFF
BLIND_ON = FailSafeState(True, True, 20.0)
BLIND_OFF = FailSafeState(True, False, 20.0)
SEEING = FailSafeState(False, None, 0.0)
WAITING = LightDecision(True, LightReason.WAITING)
NOBODY = LightDecision(False, LightReason.NOBODY_WAITING)

# mode, in service, fail-safe, rules, button pressed, bus near -> light, reason, pattern:
# manual mode > hours > fail-safe > rules (the button lights as the rules would)
YES, NO = True, False
NOT_YET = FailSafeState(False, None, 5.0)  # blind, not long enough for the fail-safe
STEADY, ATTENTION = LightPattern.STEADY, LightPattern.ATTENTION
HOLD = LightDecision(True, LightReason.HOLD)
MAX_ON = LightDecision(False, LightReason.MAX_ON)
PRECEDENCE = [
    (F_ON, False, BLIND_OFF, NOBODY, NO, NO, ON, LightReason.FORCED_ON, STEADY),
    (F_ON, True, SEEING, NOBODY, NO, NO, ON, LightReason.FORCED_ON, STEADY),
    (F_OFF, True, BLIND_ON, WAITING, NO, NO, OFF, LightReason.FORCED_OFF, STEADY),
    (F_OFF, True, SEEING, WAITING, NO, NO, OFF, LightReason.FORCED_OFF, STEADY),
    (AUTO, False, BLIND_ON, WAITING, NO, NO, OFF, LightReason.OUT_OF_HOURS, STEADY),
    (AUTO, False, SEEING, WAITING, NO, NO, OFF, LightReason.OUT_OF_HOURS, STEADY),
    (AUTO, True, BLIND_ON, NOBODY, NO, NO, ON, LightReason.FAILSAFE, STEADY),
    (AUTO, True, BLIND_OFF, WAITING, NO, NO, OFF, LightReason.FAILSAFE, STEADY),
    (AUTO, True, SEEING, WAITING, NO, NO, ON, LightReason.WAITING, STEADY),
    (AUTO, True, SEEING, NOBODY, NO, NO, OFF, LightReason.NOBODY_WAITING, STEADY),
    (AUTO, True, NOT_YET, WAITING, NO, NO, ON, LightReason.WAITING, STEADY),
    # the waiting button and a bus near: below everything above, and only for someone waiting
    (F_ON, True, SEEING, NOBODY, YES, YES, ON, LightReason.FORCED_ON, STEADY),
    (F_OFF, True, SEEING, NOBODY, YES, YES, OFF, LightReason.FORCED_OFF, STEADY),
    (AUTO, False, SEEING, NOBODY, YES, YES, OFF, LightReason.OUT_OF_HOURS, STEADY),
    (AUTO, True, BLIND_OFF, NOBODY, YES, YES, OFF, LightReason.FAILSAFE, STEADY),
    (AUTO, True, BLIND_ON, WAITING, NO, YES, ON, LightReason.FAILSAFE, STEADY),
    (AUTO, True, SEEING, NOBODY, YES, NO, ON, LightReason.BUTTON, STEADY),
    (AUTO, True, SEEING, NOBODY, YES, YES, ON, LightReason.BUTTON, ATTENTION),
    (AUTO, True, SEEING, WAITING, NO, YES, ON, LightReason.WAITING, ATTENTION),
    (AUTO, True, SEEING, WAITING, YES, YES, ON, LightReason.WAITING, ATTENTION),
    (AUTO, True, SEEING, NOBODY, NO, YES, OFF, LightReason.NOBODY_WAITING, STEADY),
    (AUTO, True, SEEING, HOLD, NO, YES, ON, LightReason.HOLD, STEADY),
    (AUTO, True, SEEING, MAX_ON, YES, NO, ON, LightReason.BUTTON, STEADY),
]


@pytest.mark.parametrize(("mode", "service", "failsafe", "rules", "pressed", "near", "light",
                          "reason", "pattern"), PRECEDENCE)
def test_precedence_table(mode, service, failsafe, rules, pressed, near, light, reason,
                          pattern):
    assert light_wanted(mode, service, failsafe, rules, pressed, near) == (light, reason,
                                                                          pattern)


def controller(**kw) -> StopController:
    core = dict(zone=ZONE, dwell_s=1.0, hold_s=1.0, confirm_hits=1, max_missed_s=0.5)
    core.update(kw.pop("core", {}))
    return StopController(controller_settings(core_settings(**core), **kw), start=0.0)


def tick(c: StopController, kind: TickKind, t: float, people=(), wall=None):
    return c.tick(Tick(kind, t, wall, list(people)))


def test_a_switch_on_then_a_covered_lens_makes_one_light_event_only():
    c = controller(fail_state=FailState.ON)
    events = []
    for i in range(10):
        events += tick(c, TickKind.DETECTED, i * 0.2, [person(0.5, 0.8)]).events
    for i in range(10, 210):  # 200 frames of a covered lens: picture fault, fail-safe on
        events += tick(c, TickKind.PICTURE_FAULT, i * 0.2).events
    lights = [e for e in events if isinstance(e, LightSwitched)]
    assert [(e.on, e.reason) for e in lights] == [(True, LightReason.WAITING)]
    assert c.state.failsafe and c.state.reason is LightReason.FAILSAFE


def test_a_black_picture_at_an_empty_stop_switches_on_once_with_reason_failsafe():
    c = controller()
    tick(c, TickKind.DETECTED, 0.0)
    out = [tick(c, TickKind.PICTURE_FAULT, 0.2 * i) for i in range(1, 30)]
    lights = [e for o in out for e in o.events if isinstance(e, LightSwitched)]
    assert [(e.on, e.reason) for e in lights] == [(True, LightReason.FAILSAFE)]


def test_blind_time_is_skipped_and_the_waiting_person_keeps_waiting():
    c = controller(core={"hold_s": 0.5})
    for i in range(10):
        tick(c, TickKind.DETECTED, i * 0.2, [person(0.5, 0.8)])
    assert c.state.light and c.state.waiting == 1
    for i in range(10, 40):  # 6 s of a smeared picture (no fault yet): the decision waits
        assert tick(c, TickKind.UNUSABLE, i * 0.2).state.light
    out = tick(c, TickKind.DETECTED, 8.0, [person(0.5, 0.8)])
    assert out.resumed and out.state.waiting == 1 and out.state.light
    assert not any(isinstance(e, LightSwitched) for e in out.events)


def test_waiting_episode_and_mode_events_each_once():
    c = controller()
    events = []
    for i in range(30):
        events += tick(c, TickKind.DETECTED, i * 0.2, [person(0.5, 0.8)] if i < 15 else []).events
    assert sum(isinstance(e, WaitingStarted) for e in events) == 1
    ended = [e for e in events if isinstance(e, WaitingEnded)]
    assert len(ended) == 1 and ended[0].peak == 1 and ended[0].duration_s == pytest.approx(
        ended[0].t - next(e.t for e in events if isinstance(e, WaitingStarted)))
    c.set_mode(LightMode.FORCE_ON, 6.0, for_s=1.0)
    out = [tick(c, TickKind.SKIPPED, 6.0 + 0.2 * i) for i in range(10)]
    modes = [e for o in out for e in o.events if isinstance(e, ModeChanged)]
    assert [(e.mode, e.expired) for e in modes] == [(F_ON, False), (AUTO, True)]
    lights = [(e.on, e.reason) for o in out for e in o.events if isinstance(e, LightSwitched)]
    assert lights == [(True, LightReason.FORCED_ON), (False, LightReason.NOBODY_WAITING)]


def test_out_of_hours_and_a_clock_that_steps_back():
    c = controller(windows=(Window(start="06:00", end="22:00"),))
    night, day = datetime(2026, 3, 2, 23, 0), datetime(2026, 3, 2, 12, 0)
    for i in range(10):
        assert not tick(c, TickKind.DETECTED, i * 0.2, [person(0.5, 0.8)], night).state.light
    assert c.state.reason is LightReason.OUT_OF_HOURS
    assert tick(c, TickKind.DETECTED, 1.0, [person(0.5, 0.8)], day).state.light  # t steps back
    assert c.state.t == pytest.approx(1.8)


# ---------------- the assembled stop under random ticks ----------------

BLACK = np.zeros((48, 64, 3), np.uint8)
rng = np.random.default_rng(7)
SCENE = rng.integers(40, 220, (48, 64, 3), dtype=np.uint8)  # a textured, sharp picture
STEP = st.sampled_from(["frame", "frame", "frame", "skip", "black", "lost", "fail", "mode",
                        "hours"])
PLAN = st.lists(st.tuples(STEP, st.booleans(), st.sampled_from(list(LightMode)),
                          st.sampled_from([None, 0.5, 3.0])), min_size=1, max_size=120)


class PlanSource:
    live = False

    def __init__(self, plan, clock) -> None:
        self.plan, self.clock, self.i = plan, clock, 0
        self.wall = datetime(2026, 1, 5, 11, 55)

    def step(self):
        return self.plan[self.i - 1] if 0 < self.i <= len(self.plan) else ("frame", False)

    def read(self):
        if self.i >= len(self.plan):
            return None
        self.i += 1
        what, _, _, _ = self.plan[self.i - 1]
        self.clock[0] += 0.2
        if what == "hours":
            self.wall += timedelta(minutes=4)  # crosses the 12:00 and 12:10 window edges
        if what == "lost":
            raise CameraError("scripted loss")
        image = BLACK if what == "black" else SCENE
        return Frame(image, self.clock[0], self.i, wall=self.wall)

    def close(self) -> None:
        pass


class PlanGate:
    def __init__(self, source: PlanSource) -> None:
        self.source = source

    def should_detect(self, frame, state) -> bool:
        return self.source.step()[0] != "skip"

    def observed(self, result) -> None:
        pass

    def reset(self) -> None:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=PLAN, fail_state=st.sampled_from(list(FailState)))
def test_light_events_are_the_relays_transitions_one_to_one(plan, fail_state):
    cfg = parse_config({"stop": {"id": "h1"}, "zone": {"polygon": ZONE},
                        "waiting": {"dwell_s": 0.4}, "light": {"hold_s": 0.4},
                        "tracker": {"confirm_hits": 1},
                        "failsafe": {"fail_state": fail_state.value, "after_s": 0.6},
                        "health": {"black_s": 0.4},
                        "schedule": {"windows": [{"start": "12:00", "end": "12:10"}]},
                        "mqtt": {"enabled": True, "outbox": {"path": ":memory:"}}})
    clock = [0.0]
    source = PlanSource(plan, clock)

    def detect(_image):
        what, someone, _, _ = source.step()
        if what == "fail":
            raise RuntimeError("scripted detector failure")
        return DetectorResult([person(0.5, 0.8)] if someone else [])

    svc = MqttService(cfg, runner=NoRunner())
    stop = scripted_stop(cfg, source, detect, lambda: clock[0], mqtt=svc, health=True,
                         wall=lambda: source.wall)
    stop.pipeline.gate = PlanGate(source)
    pin = stop.pipeline.light.device.pin
    while True:
        i = source.i
        if i < len(plan) and plan[i][0] == "mode":
            stop.pipeline.request_mode(plan[i][2], plan[i][3])
        if stop.pipeline.cycle() is None:
            break
    stop.close()
    svc.tick(svc.link, 0.0)  # what the link thread would do: the queue into the outbox
    events = [e for _, e in svc.link.outbox.after(0, 100000) if e["kind"] == "light"]
    states = [s.state for s in pin.states]
    transitions = [b for a, b in itertools.pairwise(states) if a != b]
    assert [e["on"] for e in events] == transitions, (events, pin.states)
    assert svc.link.retained[svc.topics.leaf(State.LIGHT)] == ("ON" if states[-1] else "OFF")


def test_thirty_minutes_of_a_covered_lens_add_a_few_events_not_one_a_frame():
    cfg = parse_config({"stop": {"id": "h2"}, "zone": {"polygon": ZONE},
                        "mqtt": {"enabled": True, "outbox": {"path": ":memory:"}}})
    fps, minutes = 5.0, 30
    clock = [0.0]
    n = int(minutes * 60 * fps)

    class Lens:
        live = False

        def __init__(self) -> None:
            self.i = 0

        def read(self):
            if self.i >= n:
                return None
            self.i += 1
            clock[0] = self.i / fps
            # a person waits for 10 s, then the lens is covered for the rest of the half hour
            return Frame(SCENE if self.i <= 10 * fps else BLACK, clock[0], self.i)

        def close(self) -> None:
            pass

    lens = Lens()
    svc = MqttService(cfg, runner=NoRunner())
    stop = scripted_stop(cfg, lens, lambda _i: DetectorResult(
        [person(0.5, 0.8)] if lens.i <= 10 * fps else []), lambda: clock[0], mqtt=svc,
        health=True)
    stop.run()
    svc.tick(svc.link, 0.0)
    queued = [e for _, e in svc.link.outbox.after(0, 100000)]
    kinds = [(e["kind"], e.get("fault") or e.get("reason")) for e in queued]
    # the light on for the waiting person; the covered lens is black and frozen; the fail-safe
    # keeps the light on, so nothing else happens until the end of the run
    assert kinds == [("light", "waiting"), ("fault", "camera_black"), ("fault", "camera_frozen")]
    stop.close()
    svc.tick(svc.link, 0.0)
    assert len(svc.link.outbox) <= 5


@given(mode=st.sampled_from(list(LightMode)), service=st.booleans(),
       failsafe=st.sampled_from([BLIND_ON, BLIND_OFF, SEEING, NOT_YET]),
       rules=st.sampled_from([WAITING, NOBODY, HOLD, MAX_ON]), pressed=st.booleans(),
       near=st.booleans())
def test_button_and_bus_never_override_mode_hours_or_failsafe(mode, service, failsafe, rules,
                                                              pressed, near):
    w = light_wanted(mode, service, failsafe, rules, pressed, near)
    base = light_wanted(mode, service, failsafe, rules)
    if mode is not AUTO or not service or failsafe.active:
        assert w == base  # the button and a bus change nothing above the rules
    if w.pattern is ATTENTION:
        assert w.on and near and mode is AUTO and service and not failsafe.active
    if pressed and mode is AUTO and service and not failsafe.active:
        assert w.on  # a press lights the stop whatever the rules said
