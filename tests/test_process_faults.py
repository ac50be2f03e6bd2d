"""Process faults: a failing publisher is counted and skipped; a failing stage that leaves no
safe state ends the loop with its name; a stage that hangs ends the process (status 70)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from detector.base import DetectorResult
from edge.config import parse_config
from edge.runtime.pipeline import Pipeline
from edge.runtime.watchdog import EX_SOFTWARE, StageWatchdog
from tests.conftest import REPO
from tests.helpers import person

ZONE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


class Frames:
    """A scripted source: n blank frames 0.2 s apart (nothing here needs a picture)."""

    live = False
    fps = 5.0

    def __init__(self, n: int) -> None:
        import numpy as np

        self.n, self.i = n, 0
        self.image = np.zeros((48, 64, 3), np.uint8)

    def read(self):
        from edge.runtime.frames import Frame

        if self.i >= self.n:
            return None
        self.i += 1
        return Frame(self.image, (self.i - 1) * 0.2, self.i)

    def close(self) -> None:
        pass


def make(detect, sinks=(), n=20) -> Pipeline:
    from sim.scripted import scripted_stop

    cfg = parse_config({"zone": {"polygon": ZONE}, "waiting": {"dwell_s": 0.0},
                        "light": {"hold_s": 0.0}})
    frames = Frames(n)
    return scripted_stop(cfg, frames, detect, lambda: frames.i * 0.2, sinks=sinks).pipeline


def test_a_failing_publisher_is_counted_and_the_light_still_works():
    class Broken:
        def on_record(self, record):
            raise RuntimeError("publisher bug")

        def close(self):
            pass

    p = make(lambda img: DetectorResult([person(0.5, 0.9)]), sinks=[Broken()])
    assert p.run() == 20
    assert p.errors["publish"] == 20  # every cycle's record
    assert p.light_applied is True


def test_a_failing_decision_stage_ends_the_loop_and_names_the_stage(capsys):
    p = make(lambda img: DetectorResult([person(0.5, 0.9)]))

    def broken(*a, **k):
        raise ValueError("core bug")

    p.controller.tick = broken
    with pytest.raises(ValueError, match="core bug"):
        p.run()
    assert p.errors["decide"] == 1
    assert '"stage": "decide"' in capsys.readouterr().err or p.stage == "decide"


class Stuck:
    def __init__(self, stage: str, since: float) -> None:
        self.stage, self.stage_since = stage, since


def test_watchdog_fires_only_on_a_stage_that_overran():
    exits: list[int] = []
    now = [100.0]
    w = StageWatchdog(Stuck("detect", 80.0), 30.0, exit=exits.append, clock=lambda: now[0])
    assert not w.check() and exits == []
    now[0] = 110.0
    assert w.check() and exits == [EX_SOFTWARE] and w.fired == "detect"
    idle = StageWatchdog(Stuck("idle", 0.0), 30.0, exit=exits.append, clock=lambda: now[0])
    assert not idle.check()


def test_a_hung_detector_ends_the_process_with_status_70():
    script = textwrap.dedent("""
        import time
        from edge.logs import configure_logging
        from tests.test_process_faults import make
        configure_logging()
        from edge.runtime.watchdog import StageWatchdog
        p = make(lambda img: time.sleep(600), n=5)
        StageWatchdog(p, 1.0, poll_s=0.1).start()
        p.run()
    """)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == EX_SOFTWARE, proc.stderr[-2000:]
    assert "stage_hung" in proc.stderr and '"detect"' in proc.stderr
    assert took < 30
