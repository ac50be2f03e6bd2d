"""Injected faults on real footage: each named fault is raised and cleared on time, and the
light does what the fail-safe says meanwhile; a broker outage loses no event."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from edge.config import Config, parse_config
from sim.runner import simulate
from sim.scenario import Scenario, load_scenario
from tests.conftest import scenario_path

FAULTS = [
    {"kind": "camera_black", "at_s": 30, "for_s": 10},
    {"kind": "camera_frozen", "at_s": 52, "for_s": 16},
    {"kind": "camera_blur", "at_s": 75, "for_s": 10},
    {"kind": "camera_read_error", "at_s": 96, "for_s": 14},
    {"kind": "model_error", "at_s": 112, "for_s": 5},
    {"kind": "relay_readback", "at_s": 128, "for_s": 3},
]


def with_faults(name: str, faults: list[dict]) -> Scenario:
    base = load_scenario(scenario_path(name))
    return Scenario.model_validate({**base.model_dump(), "base_dir": base.base_dir,
                                    "faults": faults})


def window(log: list[dict], fault: str) -> tuple[float, float | None]:
    hits = [e for e in log if e["fault"] == fault]
    assert len(hits) == 1, (fault, log)
    return hits[0]["raised_s"], hits[0]["cleared_s"]


def light_between(run, a: float, b: float) -> set[bool]:
    return {s.light_on for s in run.recorder.samples if a <= s.t < b}


@pytest.fixture(scope="module")
def faulty_run(shared, models_dir):
    return simulate(with_faults("one-by-one", FAULTS), Config())


def test_each_fault_is_raised_and_cleared_on_time(faulty_run):
    log = faulty_run.recorder.fault_log
    h = faulty_run.config.health
    dt = 1.0 / faulty_run.config.camera.fps + 1e-6
    raised, cleared = window(log, "camera_black")
    assert 30 + h.black_s <= raised <= 30 + h.black_s + dt and 40 <= cleared <= 40 + dt
    raised, cleared = window(log, "camera_frozen")
    # frozen_s after the last picture that changed (the frame before the fault)
    assert 52 + h.frozen_s - 0.5 <= raised <= 52 + h.frozen_s + dt and 68 <= cleared <= 68 + dt
    raised, cleared = window(log, "camera_blurred")
    assert 75 + h.blur_s <= raised <= 75 + h.blur_s + dt and 85 <= cleared <= 85 + dt
    raised, cleared = window(log, "camera_lost")
    assert 96 <= raised <= 96 + dt and 110 <= cleared <= 110 + dt
    raised, cleared = window(log, "model_failed")
    assert 112 <= raised <= 113 and 117 <= cleared <= 117 + dt
    raised, cleared = window(log, "light_readback")
    assert 128 <= raised <= 128 + dt and 131 <= cleared <= 131 + dt
    assert {e["fault"] for e in log} == {"camera_black", "camera_frozen", "camera_blurred",
                                          "camera_lost", "model_failed", "light_readback"}


def test_light_follows_the_fail_safe_while_the_picture_is_bad(faulty_run):
    assert faulty_run.config.failsafe.fail_state.value == "on"
    assert light_between(faulty_run, 33.2, 40) == {True}  # black: blind stop lights
    assert light_between(faulty_run, 80.2, 85) == {True}  # blurred, nobody waiting before
    # camera lost at 96: no frames, so no samples; the light came back decided by the rules
    samples = [s for s in faulty_run.recorder.samples if 96 <= s.t < 110]
    assert samples == []
    # the model failing for 5 s (< failsafe.after_s) leaves the waiting person's light on
    assert light_between(faulty_run, 112, 117) == {True}


def test_fail_state_off_darkens_a_covered_camera(shared, models_dir):
    sc = with_faults("tud-campus", [{"kind": "camera_black", "at_s": 1.0, "for_s": 1.0}])
    cfg = parse_config({"failsafe": {"fail_state": "off"}, "health": {"black_s": 0.3}})
    run = simulate(sc, cfg)
    raised, cleared = window(run.recorder.fault_log, "camera_black")
    assert 1.3 <= raised <= 1.3 + 0.041 and 2.0 <= cleared <= 2.041
    assert True in light_between(run, 0.5, 1.0)  # the zone had waiting people
    assert light_between(run, raised + 0.01, 2.0) == {False}


def test_old_scenarios_still_load_without_faults(shared):
    for name in ("one-by-one", "tud-campus", "mot17-04", "llvip-night-dev"):
        assert load_scenario(scenario_path(name)).faults == []


@pytest.mark.mqtt
def test_broker_outage_in_a_sim_run_loses_no_event(shared, models_dir, tmp_path):
    from tests.mqtt_fixtures import Broker, Collector
    from tests.mqtt_stop import stop_config

    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(folder, persistence=True)
    broker.start()
    cfg = stop_config(broker, tmp_path)
    collector = Collector(broker, ("stopsafe/t1/event",), session=True)
    try:
        sc = with_faults("one-by-one", [{"kind": "broker_down", "at_s": 30, "for_s": 30}])
        run = simulate(sc, cfg, broker=broker)
        plain = simulate(load_scenario(scenario_path("one-by-one")), Config())
        expected = [e for e in run.recorder.samples]
        # the light timeline is the same as without any broker at all
        assert [(s.t, s.light_on) for s in expected] == \
            [(s.t, s.light_on) for s in plain.recorder.samples]
        switches = sum(a.light_on != b.light_on
                       for a, b in itertools.pairwise(expected))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = [json.loads(m.payload) for m in collector.on("stopsafe/t1/event")]
            light_events = [e for e in got if e["kind"] == "light"]
            if len(light_events) >= switches + 1:  # + the light-off at the end of the run
                break
            time.sleep(0.2)
        got = [json.loads(m.payload) for m in collector.on("stopsafe/t1/event")]
        light_events = [e for e in got if e["kind"] == "light" and e["t"] is not None]
        times = [e["t"] for e in light_events]
        assert times == sorted(times), "events arrive in order"
        assert len(set(times)) == len(times), "no event twice"
        on_off = [(round(s.t, 3), s.light_on) for a, s in itertools.pairwise(expected)
                  if a.light_on != s.light_on]
        assert [(e["t"], e["on"]) for e in light_events if e["reason"] != "shutdown"] == on_off
        assert any(30 <= t < 60 for t, _ in on_off), "some events fell in the outage"
    finally:
        collector.close()
        broker.stop()
