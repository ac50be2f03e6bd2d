"""The adaptive rate: the pure governor on scripted states, the change measures on images, and a
still arrival that a weak detector finds only now and then."""

from __future__ import annotations

import numpy as np
import pytest

from detector.base import DetectorResult
from edge.config import AdaptiveConfig
from edge.decision.controller import StopController, Tick, TickKind
from edge.decision.rate import RateGovernor, RateInput, RateSettings, RateState
from edge.decision.zones import Zone
from edge.runtime.frames import Frame
from edge.runtime.gate import AdaptiveGate
from edge.runtime.motion import MotionDetector
from tests.helpers import controller_settings, core_settings, person

ZONE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def governor(**kw) -> RateGovernor:
    s = dict(near=(0.0, 0.0, 1.0, 1.0), after_change_s=0.0, dwell_s=None, looks_per_dwell=3)
    return RateGovernor(RateSettings(full_fps=5.0, idle_fps=0.5, watch_fps=0.4, **{**s, **kw}))


class Scene:
    """The stop's controller fed detector runs (``update``) or skipped frames (``decide``);
    each gives the state the gate sees."""

    def __init__(self, zone=ZONE, **kw) -> None:
        self.c = StopController(controller_settings(core_settings(zone=zone, dwell_s=3.0,
                                                                  hold_s=5.0, **kw)), start=0.0)

    def update(self, detections, t):
        return self.c.tick(Tick(TickKind.DETECTED, t, None, detections)).state

    def decide(self, t):
        return self.c.tick(Tick(TickKind.SKIPPED, t)).state


def core(**kw) -> Scene:
    return Scene(**kw)


def test_empty_still_scene_runs_at_idle_rate():
    g, c = governor(), core()
    last = c.update([], 0.0)
    runs = [t for t in np.arange(0.2, 10.0, 0.2) if g.should_detect(float(t), RateInput(last))]
    assert g.state is RateState.IDLE
    assert 4 <= len(runs) <= 6  # 0.5 a second over 10 s


def test_idle_looks_at_least_looks_per_dwell_times_a_dwell():
    g, c = governor(dwell_s=3.0, looks_per_dwell=3), core()
    last = c.update([], 0.0)
    runs = [t for t in np.arange(0.2, 10.0, 0.2) if g.should_detect(float(t), RateInput(last))]
    assert g.state is RateState.IDLE and g.s.idle_interval == pytest.approx(1.0)
    assert 9 <= len(runs) <= 11  # once a second, not once in two
    assert max(np.diff(runs)) <= 1.0 + 1e-6


def test_motion_and_settling_people_run_at_full_rate():
    g, c = governor(), core()
    last = c.update([], 0.0)
    g.should_detect(0.0, RateInput(last))
    assert g.should_detect(0.2, RateInput(last, motion=True)) and g.state is RateState.FULL
    c.update([person(0.5, 0.9)], 0.2)
    last = c.update([person(0.5, 0.9)], 0.4)  # confirmed, dwell running
    assert last.people and not last.people[0].waiting
    assert g.should_detect(0.6, RateInput(last)) and g.state is RateState.FULL


def test_full_rate_lasts_after_change_s_after_the_last_change():
    g, c = governor(after_change_s=3.0), core()
    last = c.update([], 0.0)
    assert g.classify(0.0, RateInput(last, motion=True)) is RateState.FULL
    assert g.classify(2.9, RateInput(last)) is RateState.FULL  # still inside the window
    assert g.classify(3.1, RateInput(last)) is RateState.IDLE
    assert g.classify(3.2, RateInput(last, changed=True)) is RateState.FULL  # differs from
    assert g.classify(6.1, RateInput(last)) is RateState.FULL  # the last look: a new window
    assert g.classify(6.3, RateInput(last)) is RateState.IDLE
    # without the window (the old behaviour) the rate drops with the motion
    g0 = governor()
    g0.classify(0.0, RateInput(last, motion=True))
    assert g0.classify(0.2, RateInput(last)) is RateState.IDLE


def test_a_box_under_the_threshold_near_the_zone_means_full_rate():
    polygon = [(0.0, 0.5), (0.3, 0.5), (0.3, 1.0), (0.0, 1.0)]
    gate = AdaptiveGate(AdaptiveConfig(), 5.0, Zone(polygon), dwell_s=3.0)
    c = Scene(zone=polygon)
    img = np.full((120, 160, 3), 80, np.uint8)
    last = c.decide(0.0)
    t = 0.0
    while t < 10.0:  # settle into idle: the same picture, nobody
        gate.should_detect(Frame(img, t, 0), last)
        t = round(t + 0.2, 1)
    assert gate.state is RateState.IDLE
    gate.observed(DetectorResult(low=[person(0.9, 0.9, score=0.35)]))  # far from the zone
    gate.should_detect(Frame(img, t, 0), last)
    assert gate.state is RateState.IDLE
    gate.observed(DetectorResult(low=[person(0.15, 0.9, score=0.35)]))  # standing in it
    assert gate.should_detect(Frame(img, t + 0.2, 0), last)
    assert gate.state is RateState.FULL


def test_everyone_waiting_runs_at_watch_rate_and_a_miss_goes_back_to_full():
    g, c = governor(), core()
    t = 0.0
    while t < 4.0:
        last = c.update([person(0.5, 0.9)], t)
        g.should_detect(t, RateInput(last))
        t = round(t + 0.2, 1)
    assert last.waiting == 1
    assert g.classify(t, RateInput(last)) is RateState.WATCH
    # the detector misses the person once: look closely again
    last = c.update([], t)
    assert g.classify(t, RateInput(last)) is RateState.FULL
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


def test_a_slow_arrival_adds_up_against_the_last_look():
    """Someone edging out of a dark doorway: each frame differs from the one before by less than
    the pixel threshold, so frame differencing never fires, but the picture drifts away from the
    one the detector last looked at."""
    m = MotionDetector((0.0, 0.0, 1.0, 1.0), 0.002)
    frame = np.full((240, 320, 3), 30, np.uint8)
    m.measure(frame)
    m.looked()
    readings = []
    for level in range(36, 80, 6):  # a figure 6 grey levels brighter each frame
        f = frame.copy()
        f[80:200, 140:180] = level
        readings.append(m.measure(f))
        frame[80:200, 140:180] = level
    assert not any(r.motion for r in readings)
    assert readings[-1].changed and readings[-1].since_look > 0.01
    m.looked()  # the detector looked: the reference is this picture now
    assert not m.measure(frame).changed


def still_arrival(after_change_s: float | None, seed: int) -> float:
    """Seconds from the moment a person stops until the decision holds him (confirmed, in the
    zone): he walks in for 0.6 s (motion, unseen in the dark), then stands still, where the
    detector finds him on 30% of the frames. Which frames is drawn once per seed: the same
    'detector' whatever the rate. ``after_change_s`` None: the fixed full rate."""
    found_on = np.random.default_rng(seed).random(300) < 0.3
    fixed = after_change_s is None
    gate = AdaptiveGate(AdaptiveConfig(after_change_s=after_change_s or 0.0), 5.0, Zone(ZONE),
                        dwell_s=3.0)
    c = Scene()
    empty = np.full((120, 160, 3), 60, np.uint8)
    last = c.decide(0.0)
    for i in range(300):
        t = round(i * 0.2, 1)
        img = empty.copy()
        x = 20 + int(min(max(t - 10.0, 0.0), 0.6) * 100)
        if t >= 10.0:  # the person: walking in from the left until 10.6 s, then still
            img[40:110, x:x + 20] = 200
        if gate.should_detect(Frame(img, t, i), last) or fixed:
            found = t >= 10.6 and found_on[i]
            last = c.update([person((x + 10) / 160, 110 / 120, h=70 / 120)] if found else [], t)
        else:
            last = c.decide(t)
        if last.occupancy:
            return t - 10.6
    return 50.0


def test_a_still_arrival_found_now_and_then_is_held_soon():
    """The unseen station's first passenger: the full rate after the change keeps looking while
    the weak detector finds him now and then (a new track needs two detections in a row);
    without it, he is looked at once a second. Over 30 draws of the frames he is found on."""
    fixed = np.mean([still_arrival(None, seed) for seed in range(30)])
    with_window = np.mean([still_arrival(3.0, seed) for seed in range(30)])
    without = np.mean([still_arrival(0.0, seed) for seed in range(30)])
    assert with_window <= fixed + 1.0  # nearly as soon as when every frame is looked at
    assert without > with_window + 3.0
