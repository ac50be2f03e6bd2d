"""The adaptive rate: the pure governor on scripted states, the motion measure on images."""

from __future__ import annotations

import numpy as np

from edge.decision.controller import ControllerSettings, StopController, Tick, TickKind
from edge.decision.core import CoreSettings
from edge.decision.rate import RateGovernor, RateSettings, RateState
from edge.runtime.motion import MotionDetector
from tests.helpers import person

ZONE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def governor() -> RateGovernor:
    return RateGovernor(RateSettings(full_fps=5.0, idle_fps=0.5, watch_fps=0.4))


class Scene:
    """The stop's controller fed detector runs; ``update`` gives the state the gate sees."""

    def __init__(self, **kw) -> None:
        self.c = StopController(ControllerSettings(CoreSettings(zone=ZONE, dwell_s=3.0,
                                                                hold_s=5.0, **kw)), start=0.0)

    def update(self, detections, t):
        return self.c.tick(Tick(TickKind.DETECTED, t, None, detections)).state


def core(**kw) -> Scene:
    return Scene(**kw)


def test_empty_still_scene_runs_at_idle_rate():
    g, c = governor(), core()
    last = c.update([], 0.0)
    runs = [t for t in np.arange(0.2, 10.0, 0.2) if g.should_detect(float(t), last, False)]
    assert g.state is RateState.IDLE
    assert 4 <= len(runs) <= 6  # 0.5 a second over 10 s


def test_motion_and_settling_people_run_at_full_rate():
    g, c = governor(), core()
    last = c.update([], 0.0)
    g.should_detect(0.0, last, False)
    assert g.should_detect(0.2, last, True) and g.state is RateState.FULL
    c.update([person(0.5, 0.9)], 0.2)
    last = c.update([person(0.5, 0.9)], 0.4)  # confirmed, dwell running
    assert last.people and not last.people[0].waiting
    assert g.should_detect(0.6, last, False) and g.state is RateState.FULL


def test_everyone_waiting_runs_at_watch_rate_and_a_miss_goes_back_to_full():
    g, c = governor(), core()
    t = 0.0
    while t < 4.0:
        last = c.update([person(0.5, 0.9)], t)
        g.should_detect(t, last, False)
        t = round(t + 0.2, 1)
    assert last.waiting == 1
    assert g.classify(last, False) is RateState.WATCH
    # the detector misses the person once: look closely again
    last = c.update([], t)
    assert g.classify(last, False) is RateState.FULL
    # a standing person never times out for lack of motion: at the watch rate they are still
    # looked at, and a track survives at least two missed runs
    c2 = core()
    for i in range(20):
        last = c2.update([person(0.5, 0.9)], i * 0.2)
    last = c2.update([], 6.5)  # one miss 2.7 s later (longer than max_missed_s)
    assert last.waiting == 1 and last.light


def test_motion_measure_sees_a_moving_block_and_ignores_masked_people():
    m = MotionDetector((0.0, 0.0, 1.0, 1.0), 0.002)
    frame = np.full((240, 320, 3), 90, np.uint8)
    assert m.update(frame)  # first frame: nothing to compare with, look
    assert not m.update(frame.copy())
    moved = frame.copy()
    moved[100:180, 200:240] = 220  # someone walks in on the right
    assert m.update(moved)
    fidget = moved.copy()
    fidget[110:130, 205:235] = 30  # movement inside a known person's box
    box = person(0.69, 0.75, h=0.35, w=0.14)
    assert not m.update(fidget, [box])
    assert m.update(moved, [])  # the same change outside any box counts
