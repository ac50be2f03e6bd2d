"""systemd's notify protocol against a socket the test opens itself: READY, WATCHDOG, STATUS."""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from datetime import datetime

import numpy as np
import pytest

from edge.config import parse_config
from edge.runtime.frames import CameraError, Frame
from edge.runtime.notify import Notifier, watchdog_interval


class Listener:
    """A bound datagram socket standing in for systemd; keeps (monotonic time, fields)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.got: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.got.append((time.monotonic(), data.decode().split("\n")))

    def close(self) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def times(self, field: str) -> list[float]:
        return [t for t, fields in self.got if field in fields]

    def statuses(self) -> list[str]:
        return [f[7:] for _, fields in self.got for f in fields if f.startswith("STATUS=")]


def test_notifier_speaks_to_path_and_abstract_sockets(tmp_path):
    path = str(tmp_path / "n.sock")
    listener = Listener(path)
    assert Notifier({"NOTIFY_SOCKET": path}).send("READY=1", "STATUS=x")
    abstract = f"stopsafe-test-{os.getpid()}"
    a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.bind("\0" + abstract)
    assert Notifier({"NOTIFY_SOCKET": "@" + abstract}).send("WATCHDOG=1")
    assert a.recv(100) == b"WATCHDOG=1"
    a.close()
    listener.close()
    assert listener.got[0][1] == ["READY=1", "STATUS=x"]
    assert not Notifier({}).send("READY=1")  # not under systemd: nothing, no error


def test_watchdog_interval_is_half_the_period_and_only_for_this_process():
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000",
                              "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({}) is None


class StallingCamera:
    """Paced synthetic frames like a camera (``phases``: ('frames', seconds) or ('stall', s)).

    While stalled it behaves like LiveCamera.read with no frame: waits ``timeout_s``, then raises
    CameraError. Notes when each frame was handed out and when each stall began.
    """

    live = True

    def __init__(self, phases, fps: float = 20.0, timeout_s: float = 0.4) -> None:
        self.fps, self.timeout_s = fps, timeout_s
        self.phases = list(phases)
        self.handed: list[float] = []
        self.stall_began: list[float] = []
        self._phase_end: float | None = None
        self._n = 0
        rng = np.random.default_rng(1)
        self.image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)

    def read(self) -> Frame | None:
        now = time.monotonic()
        if self._phase_end is None or now >= self._phase_end:
            if not self.phases:
                return None
            kind, seconds = self.phases.pop(0)
            self._kind, self._phase_end = kind, now + seconds
            if kind == "stall":
                self.stall_began.append(now)
        if self._kind == "stall":
            time.sleep(self.timeout_s)
            raise CameraError(f"no frame from test camera for {self.timeout_s} s")
        time.sleep(1.0 / self.fps)
        self._n += 1
        self.handed.append(time.monotonic())
        return Frame(self.image, time.monotonic(), self._n, wall=datetime.now())

    def close(self) -> None:
        pass


@pytest.mark.timeout(120)
def test_daemon_notifies_ready_watchdog_status_and_pings_only_per_cycle_when_camera_stalls(
        tmp_path, models_dir, monkeypatch):
    """The real daemon (real model, mock relay) with a camera that stalls for 2 s."""
    import edge.runtime.daemon

    sock = str(tmp_path / "notify.sock")
    listener = Listener(sock)
    monkeypatch.setenv("NOTIFY_SOCKET", sock)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping at most every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setattr("edge.runtime.notify.STATUS_EVERY_S", 0.5)
    camera = StallingCamera([("frames", 2.0), ("stall", 2.0), ("frames", 1.5)])
    monkeypatch.setattr(edge.runtime.daemon, "open_camera", lambda cam: camera)
    cfg = parse_config({"detector": {"models_dir": str(models_dir)},
                        "light": {"pin_factory": "mock"},
                        "failsafe": {"fail_state": "on", "after_s": 1.0}})
    assert edge.runtime.daemon.run_daemon(cfg) == 0
    listener.close()

    ready = listener.times("READY=1")
    assert len(ready) == 1 and ready[0] > camera.handed[0]  # with the first cycle (a frame here)
    assert listener.got[0][1][0] == "READY=1"
    pings = listener.times("WATCHDOG=1")
    stall, back = camera.stall_began[0], next(t for t in camera.handed if t > camera.stall_began[0])
    before = [t for t in pings if t < stall]
    # (the listener notes arrival times from its own thread, so allow it a little lag)
    during = [t for t in pings if stall + 0.3 < t < back]
    after = [t for t in pings if t > back]
    assert len(before) >= 4, f"pings while frames flow: {len(before)}"
    # blind, the loop goes on (the fail-safe holds the light, the camera is retried in the
    # process): it still pings, but only once a cycle, i.e. once per camera timeout, so a read
    # that never returns would stop them
    assert len(during) >= 2, f"pings while blind: {during}"
    assert min(b - a for a, b in itertools.pairwise(during)) > camera.timeout_s * 0.8
    assert len(after) >= 3, "pings resume with the frames"
    assert max(b - a for a, b in itertools.pairwise(before)) < 0.6

    running = [(t, f[7:]) for t, fields in listener.got for f in fields
               if f.startswith("STATUS=running")]
    assert running and all(re.match(r"running: \d+\.\d fps, light (on|off), waiting \d+, "
                                    r"faults \S+$", s) for _, s in running)
    # the fps it reports matches the rate the camera handed out frames at
    first = [t for t in camera.handed if t < stall]
    camera_fps = (len(first) - 1) / (first[-1] - first[0])
    reported = float([s for t, s in running if t < stall][-1].split()[1])
    assert abs(reported - camera_fps) / camera_fps < 0.25, (reported, camera_fps)
    blind = [s for s in listener.statuses() if s.startswith("blind")]
    assert any("(camera_lost): fail-safe, light on" in s for s in blind), blind
    # frames back, nobody there: the rules switch the fail-safe's light off again
    assert "light off" in running[-1][1]
    assert listener.got[-1][1][0] == "STOPPING=1"


@pytest.mark.timeout(120)
def test_a_missing_model_is_ready_and_pinging_so_systemd_never_restarts_it(
        tmp_path, models_dir, monkeypatch):
    """Under systemd a daemon that never says READY is killed after TimeoutStartSec and one that
    stops pinging after WatchdogSec, both restarted for ever, dark at every restart. With the
    model missing it says READY, pings, and shows the fail-safe; the model copied in, it sees."""
    import shutil

    import edge.runtime.daemon

    sock = str(tmp_path / "notify.sock")
    listener = Listener(sock)
    monkeypatch.setenv("NOTIFY_SOCKET", sock)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setattr("edge.runtime.notify.STATUS_EVERY_S", 0.5)
    camera = StallingCamera([("frames", 4.0)], fps=10.0)
    monkeypatch.setattr(edge.runtime.daemon, "open_camera", lambda cam: camera)
    empty = tmp_path / "models"
    empty.mkdir()
    model = "ssd_mobilenet_v1_coco_quant.tflite"
    cfg = parse_config({"detector": {"models_dir": str(empty), "wide": None, "night": None},
                        "light": {"pin_factory": "mock"},
                        "failsafe": {"after_s": 1.0, "retry_min_s": 0.2, "retry_max_s": 0.2}})
    threading.Timer(2.5, lambda: shutil.copy(models_dir / model, empty / model)).start()
    assert edge.runtime.daemon.run_daemon(cfg) == 0
    listener.close()
    start = camera.handed[0]
    assert listener.times("READY=1")[0] < start + 0.5  # no model yet: ready all the same
    pings = listener.times("WATCHDOG=1")
    assert len([t for t in pings if t < start + 2.4]) >= 8  # every 0.2 s while blind
    blind = [s for s in listener.statuses() if s.startswith("blind")]
    assert any("(model_failed): fail-safe, light on" in s for s in blind), blind
    running = [s for s in listener.statuses() if s.startswith("running")]
    assert running, "the model copied in, the daemon sees again"
