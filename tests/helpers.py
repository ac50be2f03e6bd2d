"""Small helpers of the tests: scripted detections for the decision core, a link runner that
runs nothing, the end of a fleet-sim subprocess, and a scenario's clip cut short."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from detector.base import Detection

if TYPE_CHECKING:
    from sim.scenario import Scenario


def person(x: float, y_feet: float, h: float = 0.3, w: float = 0.1, score: float = 0.9
           ) -> Detection:
    """A person standing at (x, y_feet) in frame fractions."""
    return Detection(x - w / 2, y_feet - h, x + w / 2, y_feet, score)


class NoRunner:
    """An MqttService's link runner that runs nothing: the link is never connected, and the link
    thread's part is done by the test (``svc.tick``), so no broker is needed to see what the
    service queues or would publish."""

    def add(self, link) -> None:
        pass

    def call(self, fn) -> None:
        pass


def stop_fleet(fleet: subprocess.Popen) -> str:
    """End a fleet-sim started in its own session: SIGTERM (it closes its stops and says
    ``stopped``), the whole process group killed if it has not ended within a minute; its
    stderr."""
    fleet.send_signal(signal.SIGTERM)
    try:
        _, err = fleet.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(fleet.pid, signal.SIGKILL)
        _, err = fleet.communicate()
    return err


def core_settings(**over):
    """The decision core's settings as the config's defaults make them (their one source), with
    a scripted scene's own values; nothing is a static object unless ``static`` is given."""
    import dataclasses

    from edge.config import Config
    from edge.runtime.assembly import core_settings as from_config

    return dataclasses.replace(from_config(Config()), **{"static": None, **over})


def controller_settings(core, **over):
    """The controller's settings from the config's defaults around ``core``."""
    import dataclasses

    from edge.config import Config
    from edge.runtime.assembly import controller_settings as from_config

    return dataclasses.replace(from_config(Config()), core=core, **over)


def detector_settings(**over):
    """What the back-ends get from the config's detector defaults, with a test's own values."""
    import dataclasses

    from edge.config import DetectorConfig
    from edge.runtime.assembly import detector_settings as from_config

    return dataclasses.replace(from_config(DetectorConfig()), **over)


def cut_scenario(sc: Scenario, folder: Path, seconds: float, presence: str | None = None
                 ) -> Scenario:
    """``sc`` on its clip's first ``seconds``, cut at run time into ``folder`` (never committed),
    with ``presence`` as its presence.csv (the scenario's own truth when None)."""
    import cv2

    cap = cv2.VideoCapture(str(sc.clip_path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    ok, frame = cap.read()
    out = cv2.VideoWriter(str(folder / "cut.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                          (frame.shape[1], frame.shape[0]))
    for _ in range(int(seconds * fps)):
        out.write(frame)
        ok, frame = cap.read()
        assert ok
    out.release()
    cap.release()
    (folder / "presence.csv").write_text(sc.truth_path.read_text() if presence is None
                                         else presence)
    return sc.model_copy(update={"base_dir": folder, "clip": "cut.mp4", "name": "cut"})
