"""The stop controller (and the scene core under it) on scripted detections and a scripted
clock."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta

import pytest

from edge.config import Window
from edge.decision.controller import StopController, Tick, TickKind
from edge.decision.light_rules import LightMode, LightReason
from edge.decision.schedule import in_service
from tests.helpers import controller_settings, core_settings, person

LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
FPS = 5.0
DT = 1.0 / FPS


def make_core(windows=(), **kw) -> StopController:
    s = dict(zone=LEFT_HALF, dwell_s=3.0, hold_s=5.0, max_missed_s=2.0, confirm_hits=2)
    s.update(kw)
    return StopController(controller_settings(core_settings(**s), windows=windows), start=0.0)


def run(core: StopController, script, seconds: float, t0: float = 0.0, local=None):
    """Feed ``script(t) -> detections`` every frame; returns [(t, state)]."""
    out = []
    n = round(seconds * FPS)
    for i in range(n):
        t = t0 + i * DT
        out.append((t, core.tick(Tick(TickKind.DETECTED, t, local, script(t))).state))
    return out


def light_on_times(trace):
    return [t for t, d in trace if d.light]


def test_waiting_person_lights_after_dwell_and_holds_after_leaving():
    core = make_core()
    trace = run(core, lambda t: [person(0.25, 0.8)] if 1.0 <= t < 11.0 else [], 20.0)
    on = light_on_times(trace)
    assert on, "a person waiting 10 s must light the stop"
    assert 4.0 <= on[0] <= 4.0 + 2 * DT  # entered at 1.0, dwell 3.0 (+ confirmation)
    last_seen = 11.0 - DT
    assert abs(on[-1] - (last_seen + 5.0)) <= DT + 1e-9  # off hold_s after last seen
    switches = sum(a[1].light != b[1].light for a, b in itertools.pairwise(trace))
    assert switches == 2


def test_passer_by_never_lights_the_stop():
    core = make_core()
    # walks across the zone from x=0.0 to 0.5 in 2 s (shorter than dwell_s), then away
    def walker(t):
        return [person(0.25 * t, 0.8)] if 0 <= t < 4.0 else []
    trace = run(core, walker, 15.0)
    assert not light_on_times(trace)
    assert any(d.occupancy for _, d in trace), "the passer-by is seen in the zone"


def test_dropouts_do_not_flicker_the_light():
    core = make_core(hold_s=0.0)
    # standing still, but missed on 2 of every 5 frames and once for 1.2 s
    def flaky(t):
        i = round(t * FPS)
        if 8.0 <= t < 9.2 or i % 5 in (1, 3):
            return []
        return [person(0.25, 0.8)] if t < 20.0 else []
    trace = run(core, flaky, 25.0)
    states = [d.light for t, d in trace if 5.0 <= t < 19.0]
    assert all(states), "the light must stay on through detection drop-outs"
    occ = [d.occupancy for t, d in trace if 5.0 <= t < 19.0]
    assert all(o == 1 for o in occ), "a still person missed for a moment stays in the zone"


def test_walker_leaving_is_not_kept_in_zone_by_coasting():
    core = make_core()
    # walks out of the zone to the right at 0.3 frame-widths a second and is lost at x=0.55
    def walker(t):
        x = 0.1 + 0.3 * t
        return [person(x, 0.8)] if x < 0.55 else []
    trace = run(core, walker, 4.0)
    after = [d.occupancy for t, d in trace if t > 1.5 + 2 * DT]
    assert after and not any(after)


def test_two_people_overlapping_keep_their_own_dwell():
    core = make_core(dwell_s=3.0)
    # A stands from t=0; B arrives at t=2.5 and stands right beside A (boxes overlap)
    def two(t):
        dets = [person(0.20, 0.8)]
        if t >= 2.5:
            dets.append(person(0.26, 0.82))
        return dets if t < 12 else []
    trace = run(core, two, 14.0)
    by_t = dict(trace)
    d = by_t[min(by_t, key=lambda x: abs(x - 4.0))]
    assert d.occupancy == 2
    assert d.waiting == 1  # A has waited 4 s, B only 1.5 s
    d = by_t[min(by_t, key=lambda x: abs(x - 6.0))]
    assert d.waiting == 2
    ids = {p.id for _, d in trace for p in d.people}
    assert len(ids) == 2


def test_person_outside_the_zone_is_ignored():
    core = make_core()
    trace = run(core, lambda t: [person(0.8, 0.8)], 10.0)
    assert not light_on_times(trace)
    assert not any(d.occupancy for _, d in trace)


def test_single_frame_false_detection_is_not_a_person():
    core = make_core()
    trace = run(core, lambda t: [person(0.25, 0.8)] if abs(t - 1.0) < 1e-9 else [], 5.0)
    assert not any(d.occupancy for _, d in trace)


def test_min_on_time_keeps_the_light_on():
    core = make_core(dwell_s=0.0, hold_s=0.0, min_on_s=10.0)
    trace = run(core, lambda t: [person(0.25, 0.8)] if t < 2.0 else [], 15.0)
    on = light_on_times(trace)
    assert on[0] <= 2 * DT
    assert 10.0 - DT <= on[-1] - on[0] <= 10.0 + DT
    reasons = {d.reason for _, d in trace}
    assert LightReason.MIN_ON in reasons


def test_manual_override_and_expiry():
    core = make_core()
    core.set_mode(LightMode.FORCE_ON, now=0.0, for_s=3.0)
    trace = run(core, lambda t: [], 6.0)
    on = light_on_times(trace)
    assert on and on[0] == 0.0 and on[-1] < 3.0
    assert trace[-1][1].mode is LightMode.AUTO
    core.set_mode(LightMode.FORCE_OFF, now=6.0)
    trace = run(core, lambda t: [person(0.25, 0.8)], 10.0, t0=6.0)
    assert not light_on_times(trace)


def test_schedule_keeps_light_off_out_of_hours():
    windows = (Window(start="06:00", end="01:00"),)
    core = make_core(windows=windows, dwell_s=0.0)
    night = datetime(2026, 3, 4, 2, 30)  # 02:30, after the 01:00 close
    trace = run(core, lambda t: [person(0.25, 0.8)], 5.0, local=night)
    assert not light_on_times(trace)
    assert trace[-1][1].reason is LightReason.OUT_OF_HOURS
    evening = datetime(2026, 3, 4, 23, 30)
    trace = run(core, lambda t: [person(0.25, 0.8)], 5.0, t0=10.0, local=evening)
    assert light_on_times(trace)


@pytest.mark.parametrize(
    ("hhmm", "day", "expected"),
    [("05:59", 2, False), ("06:00", 2, True), ("23:59", 2, True), ("00:30", 2, True),
     ("01:00", 2, False), ("00:30", 0, False)],  # Monday 00:30 belongs to Sunday's window
)
def test_schedule_window_past_midnight(hhmm, day, expected):
    windows = [Window(start="06:00", end="01:00", days=["mon", "tue", "wed", "thu", "fri"])]
    h, m = map(int, hhmm.split(":"))
    local = datetime(2026, 3, 2, h, m) + timedelta(days=day)  # 2026-03-02 is a Monday
    assert in_service(windows, local) is expected


def test_core_never_reads_a_clock(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the decision core read a clock")

    for name in ("time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, boom)

    class NoNow(datetime):
        @classmethod
        def now(cls, tz=None):
            boom()

        @classmethod
        def today(cls):
            boom()

    import edge.decision.schedule as sched

    monkeypatch.setattr(sched, "datetime", NoNow)
    core = make_core(windows=(Window(start="06:00", end="22:00"),))
    trace = run(core, lambda t: [person(0.25, 0.8)] if t < 8 else [], 16.0,
                local=datetime(2026, 3, 2, 12, 0))
    assert light_on_times(trace)


def test_a_stream_of_passers_by_never_chains_into_a_wait():
    """People walk through one after another on the same path, 1.5 s apart: identities must not
    hop from one to the next (that would add their times up into a false wait)."""
    core = make_core(dwell_s=3.0)
    speed = 0.25  # frame widths a second: 2 s across the half-frame zone

    def stream(t):
        dets = []
        for k in range(12):
            start = 1.5 * k
            x = -0.05 + speed * (t - start)
            if t - start >= 0.0 and -0.05 <= x <= 1.05:
                dets.append(person(x, 0.8 + 0.01 * (k % 3)))
        return dets

    trace = run(core, stream, 22.0)
    assert any(d.occupancy for _, d in trace)
    assert not light_on_times(trace), [(t, [(p.id, round(p.dwell_s, 1)) for p in d.people])
                                       for t, d in trace if d.light][:3]
