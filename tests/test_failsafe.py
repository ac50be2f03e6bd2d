"""The fail-safe policy: the pure rule, and the pipeline driving gpiozero's mock relay with it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from edge.config import ConfigError, parse_config
from edge.decision.light_rules import FailSafe, FailState, LightMode
from edge.runtime.assembly import build_light
from edge.runtime.faults import Fault
from edge.runtime.pipeline import StopRecord
from sim.scripted import FakeClock, ScriptedDetector, ScriptedSource, scripted_stop
from tests.helpers import person


def test_fail_state_reads_unquoted_yaml_on_off_and_refuses_nonsense():
    for text, want in (("on", FailState.ON), ("off", FailState.OFF), ("last", FailState.LAST),
                       ("'on'", FailState.ON)):
        cfg = parse_config(yaml.safe_load(f"failsafe: {{fail_state: {text}}}"))
        assert cfg.failsafe.fail_state is want
    assert parse_config({}).failsafe.fail_state is FailState.ON  # the documented default
    with pytest.raises(ConfigError, match=r"failsafe\.fail_state"):
        parse_config({"failsafe": {"fail_state": "blink"}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"failsafe\.after_s"):
        parse_config({"failsafe": {"after_s": 0}}, "x.yaml")


def test_pure_failsafe_engages_after_after_s_and_releases_on_a_good_frame():
    fs = FailSafe(FailState.ON, 10.0, start=0.0)
    assert not fs.seen(1.0).active
    d = fs.blind(10.9, light_on=False)
    assert (d.active, d.on) == (False, None)
    assert d.blind_s == pytest.approx(9.9)
    d = fs.blind(11.0, light_on=False)
    assert (d.active, d.on) == (True, True)
    assert fs.blind(12.0, light_on=True).active
    d = fs.seen(13.0)
    assert (d.active, d.on) == (False, None)


def test_pure_failsafe_engages_at_once_for_a_picture_fault():
    fs = FailSafe(FailState.OFF, 10.0, start=0.0)
    fs.seen(5.0)
    assert fs.blind(5.2, light_on=True, immediate=True).on is False


def test_pure_failsafe_last_keeps_the_state_it_engaged_with():
    for was in (True, False):
        fs = FailSafe(FailState.LAST, 5.0, start=0.0)
        assert fs.blind(5.0, light_on=was).on is was
        assert fs.blind(9.0, light_on=not was).on is was  # not what it drove since


def test_a_camera_that_never_delivers_engages_it_from_daemon_start():
    fs = FailSafe(FailState.ON, 10.0, start=100.0)
    assert not fs.blind(105.0, light_on=False).active
    assert fs.blind(110.0, light_on=False).on is True


@dataclass
class Trace:
    """A sink that notes the relay read back from the mock pin, for frames and blind cycles."""

    clock: FakeClock
    light: object
    rows: list[tuple[float, str, bool, float]] = field(default_factory=list)

    def on_record(self, r: StopRecord) -> None:
        if r.error is None and r.frame is not None:
            self.rows.append((self.clock.t, "frame", self.light.read(), 0.0))
            return
        if r.frame is None and r.error is None:
            return  # the shutdown's record
        assert r.light_on == self.light.read()
        cause = Fault.CAMERA_LOST if r.frame is None else Fault.MODEL_FAILED
        self.rows.append((self.clock.t, cause.value, self.light.read(), r.state.blind_s))

    def close(self) -> None:
        pass

    def light_at(self, kind: str) -> list[bool]:
        return [on for _, k, on, _ in self.rows if k == kind]


def run_pipeline(fail_state: str, script, people=lambda t: [], failing=lambda t: False,
                 after_s: float = 10.0, **cfg_extra):
    cfg = parse_config({"failsafe": {"fail_state": fail_state, "after_s": after_s},
                        "light": {"pin_factory": "mock"}, **cfg_extra})
    clock = FakeClock()
    source = ScriptedSource(script, clock)
    light = build_light(cfg)
    assert light.read() is False  # the relay starts off, before any decision
    trace = Trace(clock, light)
    stop = scripted_stop(cfg, source, ScriptedDetector(clock, people, failing), clock,
                         sinks=[trace], light=light)
    pipeline = stop.pipeline
    raised: list[tuple[Fault, bool]] = []
    pipeline.faults.subscribe(lambda e: raised.append((e.fault, e.active)))
    stop.run()
    stop.close()
    assert light.device.closed
    return trace, raised, pipeline


def frames_lost_frames(n1: int, lost: int, n2: int):
    return lambda i: ("frame" if i < n1 else "lost" if i < n1 + lost
                      else "frame" if i < n1 + lost + n2 else "end")


def test_fail_state_on_lights_a_blind_stop_after_after_s_and_the_rules_take_back_over():
    trace, raised, _ = run_pipeline("on", frames_lost_frames(10, 8, 10))
    assert trace.light_at("frame")[:10] == [False] * 10  # nobody there: off
    blind = [(b, on) for _, k, on, b in trace.rows if k == "camera_lost"]
    assert [on for b, on in blind if b < 10.0] == [False] * 4
    assert all(on for b, on in blind if b >= 10.0) and len([b for b, _ in blind if b >= 10]) == 4
    assert trace.light_at("frame")[10:] == [False] * 10  # frames back, nobody: off again
    assert raised == [(Fault.CAMERA_LOST, True), (Fault.CAMERA_LOST, False)]


def test_fail_state_off_darkens_a_lit_stop_when_blind():
    waiting = lambda t: [person(0.5, 0.8)]  # noqa: E731 - someone waits all along
    trace, _, _ = run_pipeline("off", frames_lost_frames(30, 8, 5), people=waiting)
    assert trace.light_at("frame")[29] is True  # lit for the waiting person before the loss
    blind = [(b, on) for _, k, on, b in trace.rows if k == "camera_lost"]
    assert [on for b, on in blind] == [True] * 4 + [False] * 4


@pytest.mark.parametrize("lit", [True, False])
def test_fail_state_last_keeps_the_light_as_it_was(lit):
    people = (lambda t: [person(0.5, 0.8)]) if lit else (lambda t: [])
    trace, _, _ = run_pipeline("last", frames_lost_frames(30, 8, 0), people=people)
    assert trace.light_at("camera_lost") == [lit] * 8


def test_a_failing_model_is_blind_too_and_recovers():
    clock_fail = {"from": None}

    def failing(t: float) -> bool:
        if clock_fail["from"] is None:
            clock_fail["from"] = t + 2.0
        return clock_fail["from"] <= t < clock_fail["from"] + 15.0

    trace, raised, pipeline = run_pipeline("on", lambda i: "frame" if i < 150 else "end",
                                           failing=failing)
    blind = [(b, on) for _, k, on, b in trace.rows if k == "model_failed"]
    assert blind, "the failing detector must be reported"
    assert not any(on for b, on in blind if b < 10.0)
    assert any(on for b, on in blind if b >= 10.0)
    assert trace.light_at("frame")[-1] is False  # recovered: nobody there, off
    assert raised == [(Fault.MODEL_FAILED, True), (Fault.MODEL_FAILED, False)]
    assert pipeline.faults.active() == {}


def test_a_manual_force_off_wins_over_the_failsafe_while_blind():
    clock = FakeClock()
    cfg = parse_config({"failsafe": {"after_s": 4.0}})
    source = ScriptedSource(lambda i: "frame" if i < 3 else "lost" if i < 20 else "end", clock)
    stop = scripted_stop(cfg, source, ScriptedDetector(clock, lambda t: []), clock)
    pipeline = stop.pipeline
    for _ in range(6):  # 3 frames, 3 lost reads (blind 2, 4, 6 s)
        pipeline.cycle()
    assert pipeline.light.read() is True
    pipeline.request_mode(LightMode.FORCE_OFF)
    record = pipeline.cycle()
    assert record is not None and record.frame is None
    assert pipeline.light.read() is False
    assert record.state.reason.value == "forced_off"
    stop.close()


def test_out_of_hours_the_failsafe_keeps_the_light_off():
    # the scripted stop's wall clock stands at 12:00 (sim.scripted): service from 14:00 to 15:00
    # (a window taken from the real time of day made this test fail between 09:00 and 10:00)
    window = {"start": "14:00", "end": "15:00"}
    trace, _, _ = run_pipeline("on", frames_lost_frames(3, 8, 0),
                               schedule={"windows": [window]})
    assert trace.light_at("camera_lost") == [False] * 8
