"""Two thresholds, static objects, masks and light.max_on_s, on scripted detections."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge.config import ConfigError, parse_config
from edge.decision.core import DecisionCore
from edge.decision.light_rules import LightReason
from edge.decision.static import StaticSettings, box_change, part_change, picture_change
from tests.helpers import core_settings, person

FULL = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
FPS = 5.0
DT = 1.0 / FPS
RNG = np.random.default_rng(1)
TEXTURE = RNG.integers(0, 256, 128, dtype=np.uint8).tobytes()  # a thumbnail with contrast


def make_core(**kw) -> DecisionCore:
    s = dict(zone=FULL, dwell_s=3.0, hold_s=5.0, max_missed_s=2.0, confirm_hits=2)
    s.update(kw)
    return DecisionCore(core_settings(**s))


def run(core, script, seconds, t0=0.0):
    """``script(t) -> (strong, low)`` every frame; returns [(t, decision)]."""
    out = []
    for i in range(round(seconds * FPS)):
        t = t0 + i * DT
        strong, low = script(t)
        out.append((t, core.update(strong, t, low)))
    return out


def first(trace, pred):
    return next((t for t, d in trace if pred(d)), None)


# --- two thresholds --------------------------------------------------------------------------

def test_low_score_boxes_never_start_a_track():
    core = make_core()
    trace = run(core, lambda t: ([], [person(0.5, 0.8, score=0.4)]), 10.0)
    assert all(not d.people and not d.light.on for _, d in trace)


def test_low_score_boxes_carry_on_a_confirmed_track():
    """A still person whose score sags below the threshold after 4 s: with the floor the track
    stays seen and the light on; without it the track coasts out after max_missed_s."""
    def script(t, with_low):
        p = person(0.5, 0.8, score=0.9 if t < 4.0 else 0.4)
        if t < 4.0:
            return [p], []
        return [], [p] if with_low else []
    kept = run(make_core(), lambda t: script(t, True), 20.0)
    lost = run(make_core(), lambda t: script(t, False), 20.0)
    assert all(d.light.on for t, d in kept if t >= 4.0)
    assert all(d.people and d.people[0].seen_now for t, d in kept if t >= 4.0)
    assert not lost[-1][1].people
    assert first([(t, d) for t, d in lost if t > 4.0], lambda d: not d.people) <= 4.0 + 2.0 + DT


def test_most_of_the_last_three_must_be_strong_to_confirm():
    strong, weak = person(0.5, 0.8, score=0.9), person(0.5, 0.8, score=0.35)
    for seq, confirmed_at in (("SWS", 2), ("SSW", 1), ("SWW", None)):
        core = make_core()
        when = None
        for i, c in enumerate(seq):
            d = core.update([strong] if c == "S" else [], i * DT,
                            [] if c == "S" else [weak])
            if d.people and when is None:
                when = i
        assert when == confirmed_at, seq


# --- static objects --------------------------------------------------------------------------

def still_thing(sig=TEXTURE, x=0.5):
    return replace(person(x, 0.8), signature=sig)


STATIC = StaticSettings(after_s=10.0, box_tolerance=0.04, picture_tolerance=0.12, grace_s=3.0,
                        decay=2.0)


def test_a_thing_that_never_changes_stops_counting_and_is_reported():
    core = make_core(static=STATIC)
    trace = run(core, lambda t: ([still_thing()], []) if t < 30.0 else ([], []), 40.0)
    on = first(trace, lambda d: d.light.on)
    assert on is not None and on <= 3.0 + 2 * DT  # a person until proven a thing
    static_at = first(trace, lambda d: d.static_objects)
    assert 10.0 - DT <= static_at <= 10.0 + DT
    assert trace[[t for t, _ in trace].index(static_at)][1].static_objects[0].x1 == pytest.approx(
        still_thing().x1)
    off = first([(t, d) for t, d in trace if t > static_at], lambda d: not d.light.on)
    assert off <= static_at + 5.0 + DT  # hold_s after it stopped counting
    assert all(not d.light.on for t, d in trace if off <= t < 30.0)
    assert all(d.occupancy == 0 and d.people[0].static for t, d in trace if static_at <= t < 30)
    gone = first([(t, d) for t, d in trace if t >= 30.0], lambda d: not d.static_objects)
    assert gone <= 30.0 + 2.0 + DT  # cleared when the tracker lets it go


def test_a_person_whose_picture_changes_keeps_the_light_on():
    core = make_core(static=STATIC)
    def fidget(t):  # same place, a new picture every frame (moving arms, head, phone)
        return [still_thing(RNG.integers(0, 256, 128, dtype=np.uint8).tobytes())], []
    trace = run(core, fidget, 30.0)
    assert all(d.light.on for t, d in trace if t >= 3.5)
    assert not any(d.static_objects for _, d in trace)


def test_a_person_who_shifts_now_and_then_is_never_static():
    core = make_core(static=STATIC)
    # the same picture, but the box moves by 10% of its height every 8 s, back and forth
    # between two places for two minutes: each place is hidden as long as it is seen, so with
    # decay above 1 neither adds up across the returns
    trace = run(core, lambda t: ([still_thing(x=0.5 + 0.03 * (int(t) // 8 % 2))], []), 120.0)
    assert all(d.light.on for t, d in trace if t >= 3.5)
    assert max(p.still_s for _, d in trace for p in d.people) < 8.0 + STATIC.grace_s + 1.0


def hidden_every(period_s: float, hidden_s: float, walker_s: float = 0.0):
    """A still thing hidden for ``hidden_s`` of every ``period_s`` (a car over it: no box), and
    for ``walker_s`` after that a walker in front (a box on the same place, another picture)."""
    other = RNG.integers(0, 256, 128, dtype=np.uint8).tobytes()

    def script(t):
        k = t % period_s
        if k < hidden_s:
            return [], []
        if k < hidden_s + walker_s:
            return [still_thing(other, x=0.5 + 0.02 * (k - hidden_s))], []
        return [still_thing()], []
    return script


def test_stillness_adds_up_through_traffic_in_front():
    """Hidden 4 s of every 30 s (longer than the tracker coasts: a new track each time), then
    a walker in front for 2 s: the tracks change, the place does not, and it becomes static
    after about after_s of being seen plus the gaps' decay."""
    s = replace(STATIC, after_s=60.0)
    core = make_core(static=s)
    trace = run(core, hidden_every(30.0, 4.0, 2.0), 300.0)
    static_at = first(trace, lambda d: d.static_objects)
    assert static_at is not None and static_at < 120.0
    ids = {p.id for _, d in trace for p in d.people if p.static}
    assert len(ids) >= 2  # found static on more than one track: the place carried it
    assert not any(d.light.on for t, d in trace if t > static_at + 5.0 + DT)


def test_a_reset_per_track_would_never_find_it():
    """The same traffic with a gap longer than the place is remembered (decay on a 30 s
    absence with 10 s seen): never static, the light stays in the hands of the person rule."""
    core = make_core(static=replace(STATIC, after_s=60.0))
    trace = run(core, hidden_every(40.0, 30.0), 400.0)
    assert not any(d.static_objects for _, d in trace)
    assert max(p.still_s for _, d in trace for p in d.people) < 10.0 + STATIC.grace_s + 1.0


def test_a_static_place_goes_when_the_thing_moves():
    core = make_core(static=STATIC)
    trace = run(core, lambda t: ([still_thing(x=0.5 if t < 20.0 else 0.7)], []), 40.0)
    assert any(d.static_objects for t, d in trace if t < 20.0)
    # moved at 20 s: still static for grace_s (a box drawn differently for a moment is not a
    # move), then a new place, a person until it has been still for after_s again
    after = [(t, d) for t, d in trace if t >= 20.0]
    cleared = first(after, lambda d: not d.static_objects)
    assert cleared <= 20.0 + STATIC.grace_s + DT
    assert any(d.light.on for t, d in trace if cleared < t < 30.0)
    assert first([(t, d) for t, d in after if t > cleared], lambda d: d.static_objects) >= 29.0


def test_static_places_survive_a_restart_and_are_found_on_the_first_run():
    core = make_core(static=STATIC)
    run(core, lambda t: ([still_thing()], []), 15.0)
    saved = core.static.static_places(15.0)
    assert len(saved) == 1 and saved[0].still_s >= STATIC.after_s
    assert saved[0].box.signature == TEXTURE
    fresh = make_core(static=STATIC)  # a restart: everything else is forgotten
    fresh.static.restore(saved, 100.0)
    trace = run(fresh, lambda t: ([still_thing()], []), 10.0, t0=100.0)
    assert trace[0][1].people == () or trace[0][1].people[0].static  # not yet a person
    assert trace[1][1].people and trace[1][1].people[0].static  # confirmed: static at once
    assert not any(d.light.on for _, d in trace)
    # a person standing elsewhere, or looking different on the same place, is no static place
    other = make_core(static=STATIC)
    other.static.restore(saved, 0.0)
    look = RNG.integers(0, 256, 128, dtype=np.uint8).tobytes()
    trace = run(other, lambda t: ([still_thing(look)], []), 5.0)
    assert trace[-1][1].light.on and not trace[-1][1].static_objects
    # a place that went leaves the kept places after about after_s / decay
    gone = make_core(static=STATIC)
    gone.static.restore(saved, 0.0)
    run(gone, lambda t: ([], []), 3.0)
    assert gone.static.static_places(3.0)
    wait = STATIC.grace_s + (min(saved[0].still_s, 2 * STATIC.after_s) - STATIC.after_s) / 2.0
    assert not gone.static.static_places(wait + DT)


def test_without_a_signature_nothing_is_static():
    core = make_core(static=STATIC)
    trace = run(core, lambda t: ([person(0.5, 0.8)], []), 30.0)
    assert all(d.light.on for t, d in trace if t >= 3.5)


def test_a_static_object_found_again_is_static_at_once():
    core = make_core(static=STATIC)
    # seen 15 s (static after 10), lost 4 s (longer than the tracker coasts), seen again
    trace = run(core, lambda t: ([still_thing()], []) if not 15.0 <= t < 19.0 else ([], []),
                30.0)
    assert all(not d.light.on for t, d in trace if t >= 19.0)
    assert all(d.static_objects for t, d in trace if t >= 19.0 + DT)


def test_a_part_of_a_static_thing_is_the_static_thing():
    """The night model's weaker box on the right half of a static thing carries a track on
    (here: a second track from the start): it stands on the static place, so it is static."""
    whole = still_thing()
    thumb = np.frombuffer(TEXTURE, np.uint8).reshape(16, 8)
    half = replace(whole, x1=(whole.x1 + whole.x2) / 2, score=0.3,
                   signature=np.repeat(thumb[:, 4:], 2, axis=1).tobytes())
    assert part_change(whole, half) < 0.05
    assert part_change(whole, replace(half, x1=half.x1 + 0.2, x2=half.x2 + 0.2)) is None
    other = replace(half, signature=RNG.integers(0, 256, 128, dtype=np.uint8).tobytes())
    assert part_change(whole, other) > STATIC.picture_tolerance
    core = make_core(static=STATIC)
    trace = run(core, lambda t: ([whole, half] if t >= 12.0 else [whole], []), 30.0)
    assert not any(d.light.on for t, d in trace if t > 10.0 + 5.0 + DT)
    assert all(p.static for t, d in trace if t > 13.0 for p in d.people)


def test_change_measures():
    a = person(0.5, 0.8)
    assert box_change(a, a) == 0.0
    assert box_change(a, person(0.53, 0.8)) == pytest.approx(0.1)
    assert picture_change(TEXTURE, TEXTURE) == 0.0
    brighter = (np.frombuffer(TEXTURE, np.uint8) // 2 + 100).astype(np.uint8).tobytes()
    assert picture_change(TEXTURE, brighter) < 0.02  # light level is no change
    assert picture_change(TEXTURE, b"") is None


# --- masks -----------------------------------------------------------------------------------

POSTER = [(0.4, 0.2), (0.6, 0.2), (0.6, 0.7), (0.4, 0.7)]


def test_a_detection_standing_in_a_mask_never_counts():
    poster = person(0.5, 0.65, h=0.4)  # feet at y=0.65: on the wall, inside the mask
    core = make_core(masks=[POSTER])
    trace = run(core, lambda t: ([poster], []), 20.0)
    assert all(not d.people and not d.light.on for _, d in trace)
    unmasked = run(make_core(), lambda t: ([poster], []), 20.0)
    assert unmasked[-1][1].light.on


def test_a_person_in_front_of_a_masked_poster_counts():
    core = make_core(masks=[POSTER])
    trace = run(core, lambda t: ([person(0.5, 0.9, h=0.6)], []), 10.0)  # feet below the poster
    assert trace[-1][1].light.on


def test_masks_are_checked_in_the_config():
    cfg = parse_config({"zone": {"masks": [POSTER]}})
    assert cfg.zone.masks[0][0] == (0.4, 0.2)
    with pytest.raises(ConfigError, match=r"zone\.masks\[0\]"):
        parse_config({"zone": {"masks": [[(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)]]}})
    with pytest.raises(ConfigError, match="masks"):
        parse_config({"zone": {"masks": [[(0.1, 0.1), (0.2, 0.2)]]}})


# --- light.max_on_s --------------------------------------------------------------------------

def test_max_on_cuts_the_light_until_someone_new_waits():
    core = make_core(max_on_s=20.0)
    a, b = person(0.3, 0.8), person(0.7, 0.8)
    trace = run(core, lambda t: ([a, b] if t >= 40.0 else [a], []), 60.0)
    on = first(trace, lambda d: d.light.on)
    cut = first(trace, lambda d: d.light_max_on)
    assert cut == pytest.approx(on + 20.0, abs=DT)
    d_cut = dict(trace)[cut]
    assert not d_cut.light.on and d_cut.light.reason is LightReason.MAX_ON
    assert all(not d.light.on and d.light_max_on for t, d in trace if cut <= t < 40.0)
    back = first([(t, d) for t, d in trace if t >= 40.0], lambda d: d.light.on)
    assert back <= 40.0 + 3.0 + 2 * DT  # b waits dwell_s: the scene changed
    assert not dict(trace)[back].light_max_on


def test_max_on_block_ends_when_nobody_waits():
    core = make_core(max_on_s=10.0)
    trace = run(core, lambda t: ([person(0.5, 0.8)] if t < 20.0 or t >= 30.0 else [], []),
                45.0)
    assert any(d.light_max_on for t, d in trace if t < 20.0)
    assert not any(d.light_max_on for t, d in trace if 23.0 <= t < 30.0)
    assert any(d.light.on for t, d in trace if t >= 33.5)  # the next arrival lights again


def test_max_on_defaults_to_no_limit():
    assert parse_config({}).light.max_on_s is None
    core = make_core()
    trace = run(core, lambda t: ([person(0.5, 0.8)], []), 120.0)
    assert all(d.light.on for t, d in trace if t >= 3.5)


def test_masks_static_and_max_on_apply_on_reload_without_forgetting_anyone():
    from edge.config import parse_config
    from edge.runtime.assembly import core_settings
    from edge.runtime.reload import diff

    old = parse_config({"zone": {"polygon": FULL}})
    new = parse_config({"zone": {"polygon": FULL, "masks": [POSTER]},
                        "static": {"after_s": 60}, "light": {"max_on_s": 120}})
    change = diff(old, new)
    assert set(change.applied) == {"zone", "static", "light.max_on_s"}
    assert not change.restart_needed
    core = DecisionCore(core_settings(old))
    run(core, lambda t: ([person(0.5, 0.9, h=0.6)], []), 5.0)
    core.retune(core_settings(new))
    assert core.rules.max_on_s == 120 and core.static.settings.after_s == 60
    assert len(core.masks) == 1 and core.tracker.tracks  # the person is still known
    poster = person(0.5, 0.65, h=0.4)
    assert core.unmasked([poster]) == []


@pytest.mark.parametrize("stay_s, lit", [(4.0, False), (12.0, True)])
def test_someone_in_front_of_a_static_thing_waits_dwell_s_like_anyone(stay_s, lit):
    """A static thing's track taken by someone in front of it (another picture on the same
    place, longer than grace_s): they start their stay then, not when the thing came. A walker
    gone within dwell_s lights nothing; someone who stays is a person waiting."""
    core = make_core(static=STATIC)
    look = RNG.integers(0, 256, 128, dtype=np.uint8).tobytes()
    trace = run(core, lambda t: ([still_thing(look if 20.0 <= t < 20.0 + stay_s else TEXTURE)],
                                 []), 20.0 + stay_s + 10.0)
    before = [d for t, d in trace if 12.0 + 5.0 + DT < t < 20.0]
    assert before and not any(d.light.on for d in before)  # static, light off
    on = first([(t, d) for t, d in trace if t >= 20.0], lambda d: d.light.on)
    if lit:
        assert on is not None and on >= 20.0 + STATIC.grace_s + 3.0 - DT  # grace, then dwell
    else:
        assert on is None


def test_a_static_thing_stays_static_when_the_stops_own_light_changes_its_picture():
    """The floor light makes a thing in its pool look different (another thumbnail while the
    relay is on). A place seen a moment before the switch takes the new picture as its own
    in that light: the thing stays static through every switch, and the light does not cycle.
    The same new picture with no switch is another thing (a new place, a person again)."""
    lit_look = RNG.integers(0, 256, 128, dtype=np.uint8).tobytes()
    core = make_core(static=STATIC)
    trace = []
    for i in range(round(60.0 * FPS)):
        t = i * DT
        lit = (int(t) // 15) % 2 == 1  # the relay on 15-30 s and 45-60 s
        core.observe([still_thing(lit_look if lit else TEXTURE)], t, lit=lit)
        trace.append((t, core.decide(t)))
    assert first(trace, lambda d: d.static_objects) <= 10.0 + DT
    assert all(d.static_objects for t, d in trace if t >= 10.0 + DT)
    assert not any(d.light.on for t, d in trace if t >= 15.0 + DT)
    other = make_core(static=STATIC)  # no switch: the new picture is not the thing
    trace = run(other, lambda t: ([still_thing(lit_look if t >= 15.0 else TEXTURE)], []), 25.0)
    assert not trace[-1][1].static_objects and trace[-1][1].light.on
