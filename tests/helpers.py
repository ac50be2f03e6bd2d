"""Small helpers of the tests: scripted detections for the decision core, a link runner that
runs nothing, and the end of a fleet-sim subprocess."""

from __future__ import annotations

import os
import signal
import subprocess

from detector.base import Detection


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
