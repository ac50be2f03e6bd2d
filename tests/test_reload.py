"""Issue 22: a reload re-configures every user of a changed section, on the real pipeline.

The real model on a cut of the shared one-by-one clip (20 s to 52 s: the second visitor walks in
at 22.7 s, stands at the table from about 25 s and leaves at 45 s) with gpiozero's mock relay.
A stop starts with settings under which nobody is found (a zone where nobody stands; a score
threshold nobody reaches); the file is changed and reloaded while the visitor stands at the
table, by the command path (what MQTT ``cmd/reload`` calls) and by SIGHUP through the daemon's
own signal handling. From the frame the reload lands on, the light must do what a stop freshly
started on that frame with the new file does, and the parts that use the changed section (the
controller, the detector's crop, the adaptive gate's region; the detector itself) must be the
fresh stop's.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import YOLOX_NANO, load_config
from edge.mqtt.control import PipelineControl
from edge.runtime.assembly import Stop, assemble
from edge.runtime.camera import ClipSource
from edge.runtime.daemon import _reload
from edge.runtime.frames import Frame
from edge.runtime.signals import SignalWatch
from tests.conftest import CLIPS

CLIP = CLIPS / "one-by-one" / "one-by-one-person-detection.mp4"
FPS = 5.0  # camera.fps: the frames the stop processes a second
FROM_S, TO_S = 20.0, 52.0  # the cut of the clip
RELOAD_AT_S = 28.0  # the visitor has stood at the table for about 3 s
NOBODY = [[0.0, 0.0], [0.3, 0.0], [0.3, 0.3], [0.0, 0.3]]  # top left: nobody stands there
TABLE = [[0.45, 0.75], [0.75, 0.75], [0.75, 1.0], [0.45, 1.0]]  # where visitors stand
WH = (768, 432)  # the clip's frame size


class ClipCut:
    """The clip's frames from ``start`` to ``end`` seconds, on the clip's own clock."""

    live = False

    def __init__(self, start: float, end: float) -> None:
        self.clip = ClipSource(CLIP, process_fps=FPS)
        self.end = end
        self.fps = FPS
        self._first: Frame | None = None
        while (frame := self.clip.read()) is not None and frame.t < start - 1e-6:
            pass
        self._first = frame

    def read(self) -> Frame | None:
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            frame = self.clip.read()
        return frame if frame is not None and frame.t <= self.end + 1e-6 else None

    def close(self) -> None:
        self.clip.close()


def doc(**sections: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"camera": {"fps": FPS}, "light": {"pin_factory": "mock"},
                         "zone": {"polygon": TABLE}}
    d.update(sections)
    return d


def write(path: Path, d: dict[str, Any]) -> Path:
    path.write_text(json.dumps(d))
    return path


def start_stop(path: Path, start: float) -> tuple[Stop, list[tuple[float, bool]]]:
    """The daemon's assembly on the cut from ``start``: real detector, mock relay."""
    cfg = load_config(path)
    source = ClipCut(start, TO_S)
    now = [start]
    lights: list[tuple[float, bool]] = []

    class Lights:
        def on_record(self, r: Any) -> None:
            now[0] = r.t
            if r.frame is not None:
                lights.append((r.t, r.light_on))

        def close(self) -> None:
            pass

    stop = assemble(cfg, source, sinks=[Lights()], clock=lambda: now[0], start=start,
                    pin_factory="mock")
    return stop, lights


def run(stop: Stop, until: float = float("inf")) -> None:
    while stop.pipeline.controller.state.t < until - 1e-6:
        if stop.pipeline.cycle() is None:
            return


def switches(lights: list[tuple[float, bool]], since: float) -> list[tuple[float, bool]]:
    out, last = [], False
    for t, on in lights:
        if t >= since - 1e-6 and on != last:
            out.append((round(t, 2), on))
        last = on
    return out


def parts(stop: Stop) -> dict[str, Any]:
    """What each user of the zone and the detector section runs with."""
    gate = stop.pipeline.gate
    assert gate is not None
    day = stop.detector.day
    return {"zone": [list(p) for p in stop.controller.settings.core.zone],
            "crop": stop.detector.roi(WH), "gate": gate.motion.region,
            "near": gate.governor.s.near, "threshold": day.score_threshold,
            "floor": day.score_floor, "model_threshold": day.detector.settings.score_threshold}


def assert_like_fresh(path: Path, stop: Stop, lights: list[tuple[float, bool]],
                      applied_at: float) -> None:
    """The rest of the cut on the reloaded stop equals a stop started with the file then."""
    run(stop)
    fresh, fresh_lights = start_stop(path, applied_at)
    try:
        run(fresh, applied_at + 1e-3)  # its first frame: the reload's frame
        want = parts(fresh)
        run(fresh)
    finally:
        fresh.close()
    got, expected = switches(lights, applied_at), switches(fresh_lights, applied_at)
    assert expected and expected[0][1] is True, expected  # the fresh stop sees the visitor
    assert len(got) == len(expected), (got, expected)
    for (t1, on1), (t2, on2) in zip(got, expected, strict=True):
        assert on1 == on2 and abs(t1 - t2) <= 1.0 / FPS + 1e-6, (got, expected)
    # the fresh stop's first frame was decided on the fresh parts; the reloaded stop's now
    assert parts(stop) == want


def reload_by_command(stop: Stop, lights: list[tuple[float, bool]], path: Path
                      ) -> tuple[dict[str, Any], float]:
    """What MQTT ``cmd/reload`` does: (the answer, the time of the first frame after it)."""
    control = PipelineControl(stop, lambda: load_config(path), lambda: None)
    future = control.reload()
    n = len(lights)
    stop.pipeline.cycle()  # the reload runs in the frame thread, before this cycle's frame
    return future.result(timeout=0), lights[n][0]


def reload_by_sighup(stop: Stop, lights: list[tuple[float, bool]], path: Path
                     ) -> tuple[dict[str, Any] | None, float]:
    """``kill -HUP`` to this process, handled by the daemon's own ``SignalWatch`` and
    ``_reload`` in their thread while the frame loop goes on; the reload lands between two
    frames, whichever they are."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    control = PipelineControl(stop, lambda: load_config(path), lambda: None)
    landed: list[int] = []  # the index of the first record after the reload
    stop.running.subscribe(lambda cfg, updates: landed.append(len(lights)))
    answers: list[dict[str, Any] | None] = []
    watch = SignalWatch(threading.Event(), lambda: answers.append(_reload(control))).install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not answers and time.monotonic() < deadline:
            if stop.pipeline.cycle() is None:
                break
    finally:
        watch.restore()
    assert watch.reloads == 1 and answers and landed, "SIGHUP did not reload"
    while len(lights) <= landed[0] and stop.pipeline.cycle() is not None:
        pass  # up to the frame the reload came before
    return answers[0], lights[landed[0]][0]


@pytest.mark.parametrize("how", [reload_by_command, reload_by_sighup],
                         ids=["command", "sighup"])
def test_a_zone_reload_moves_the_crop_the_gate_and_the_controller(models_dir, tmp_path, how):
    """Started on a zone where nobody stands, reloaded onto the table while a visitor stands
    there: the light comes on as on a fresh start with that zone (it never did before the
    fix: the crop still looked at the old zone's corner)."""
    path = write(tmp_path / "stop.yaml", doc(zone={"polygon": NOBODY}))
    stop, lights = start_stop(path, FROM_S)
    try:
        run(stop, RELOAD_AT_S)
        assert not any(on for _, on in lights)
        before = parts(stop)
        write(path, doc())
        answer, applied_at = how(stop, lights, path)
        assert answer is None or answer == {"applied": ["zone"], "restart_needed": []}
        assert stop.cfg.zone.polygon == [tuple(p) for p in TABLE]
        assert_like_fresh(path, stop, lights, applied_at)
        after = parts(stop)
        for part in ("zone", "crop", "gate", "near"):
            assert after[part] != before[part], part
    finally:
        stop.close()


@pytest.mark.parametrize("how", [reload_by_command, reload_by_sighup],
                         ids=["command", "sighup"])
def test_a_detector_reload_rebuilds_the_detector(models_dir, tmp_path, how):
    """Started with a confirming threshold no visitor reaches (by day and at night: the table
    is near the dark limit), reloaded to the defaults: a new detector on the verified models,
    the old one closed, the light as on a fresh start."""
    night = {"backend": "yolox", "model": YOLOX_NANO, "tiling": True, "score_threshold": 0.95}
    path = write(tmp_path / "stop.yaml", doc(detector={"score_threshold": 0.95,
                                                       "night": night}))
    stop, lights = start_stop(path, FROM_S)
    try:
        run(stop, RELOAD_AT_S)
        assert not any(on for _, on in lights)
        old, before = stop.detector, parts(stop)
        write(path, doc())
        answer, applied_at = how(stop, lights, path)
        assert answer is None or answer == {"applied": ["detector"], "restart_needed": []}
        assert stop.detector is not old and old.day.detector.interpreter is None  # closed
        assert stop.pipeline.detect == stop.detector.detect
        assert_like_fresh(path, stop, lights, applied_at)
        after = parts(stop)
        assert after["threshold"] != before["threshold"]
        assert after["crop"] == before["crop"] and after["gate"] == before["gate"]
    finally:
        stop.close()


def test_sections_that_need_a_restart_are_reported_and_not_taken(models_dir, tmp_path):
    """The answer is truthful: a changed relay pin or camera waits for a restart, and the
    running config (which the MQTT service and the control read too) keeps them as they run,
    so the next reload reports them again."""
    path = write(tmp_path / "stop.yaml", doc())
    stop, lights = start_stop(path, FROM_S)
    try:
        changed = doc(camera={"fps": 2.0}, light={"pin_factory": "mock", "pin": 23,
                                                  "hold_s": 9.0})
        write(path, changed)
        answer, _ = reload_by_command(stop, lights, path)
        assert answer == {"applied": ["light.hold_s"], "restart_needed": ["camera", "light.pin"]}
        assert stop.cfg.camera.fps == FPS and stop.cfg.light.pin != 23
        assert stop.cfg.light.hold_s == 9.0 == stop.controller.settings.core.hold_s
        answer, _ = reload_by_command(stop, lights, path)
        assert answer == {"applied": [], "restart_needed": ["camera", "light.pin"]}
    finally:
        stop.close()


def test_every_live_section_reaches_its_users(tmp_path):
    """The rest of the table, on a scripted stop (no model needed): tracker, static, schedule
    and the light's timings reach the controller; waiting reaches the controller and the
    adaptive gate; adaptive rebuilds the gate, health the picture health."""
    from sim.scripted import FakeClock, ScriptedDetector, ScriptedSource, scripted_stop

    path = write(tmp_path / "stop.yaml", doc())
    clock = FakeClock()
    stop = scripted_stop(load_config(path), ScriptedSource(lambda i: "frame", clock),
                         ScriptedDetector(clock, lambda t: []), clock, health=True, gate=True)
    try:
        stop.pipeline.cycle()
        gate, health = stop.pipeline.gate, stop.pipeline.health
        window = {"start": "06:00", "end": "22:00"}
        write(path, doc(tracker={"confirm_hits": 3}, static={"after_s": 120},
                        schedule={"windows": [window]}, waiting={"dwell_s": 6.0},
                        light={"pin_factory": "mock", "hold_s": 7.0}, adaptive={"idle_fps": 1.0},
                        health={"frozen_s": 30.0}))
        future = PipelineControl(stop, lambda: load_config(path), lambda: None).reload()
        stop.pipeline.cycle()
        assert future.result(timeout=0) == {
            "applied": ["adaptive", "tracker", "static", "waiting", "light.hold_s", "health",
                        "schedule"], "restart_needed": []}
        s = stop.controller.settings
        assert (s.core.confirm_hits, s.core.static.after_s, s.core.dwell_s, s.core.hold_s) == (
            3, 120.0, 6.0, 7.0) and len(s.windows) == 1
        new_gate = stop.pipeline.gate
        assert new_gate is not gate and new_gate.governor.s.dwell_s == 6.0
        assert new_gate.governor.s.idle_fps == 1.0
        assert stop.pipeline.health is not health and stop.pipeline.health.s.frozen_s == 30.0
    finally:
        stop.close()
