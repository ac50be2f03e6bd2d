"""fleet-sim: N fake stops on the broker, each with its own connection and last will, published
by the daemon's own code (``MqttService`` on a shared ``LinkRunner``); no video.

Each fake stop makes frame records from a small random world (people arrive, wait, leave) and the
daemon's real light rules, so its states, events, telemetry and command answers are the same
messages a real stop sends; ``light`` commands work on it.
"""

from __future__ import annotations

import random
import resource
import threading
import time
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import numpy as np
import structlog

from detector.base import Detection
from edge.config import Config, StopConfig
from edge.decision.core import Decision
from edge.decision.light_rules import LightMode, LightRules
from edge.mqtt.commands import CommandFailed, Failure
from edge.mqtt.link import LinkRunner
from edge.mqtt.service import MqttService, memory_outbox
from edge.runtime.frames import Frame
from edge.runtime.pipeline import FrameRecord

log = structlog.get_logger("stopsafe.fleet")

_IMAGE = np.zeros((2, 2, 3), np.uint8)  # no video: one shared dummy frame


class FakeStop:
    """One stop's world: arrivals (Poisson), stays, dwell, and the daemon's light rules."""

    def __init__(self, cfg: Config, rng: random.Random, mean_arrival_s: float = 90.0) -> None:
        self.cfg = cfg
        self.rng = rng
        self.mean_arrival_s = mean_arrival_s
        self.rules = LightRules(cfg.light.hold_s, cfg.light.min_on_s)
        self.people: list[tuple[float, float]] = []  # (arrived t, leaves t)
        self.last_waiting_seen: float | None = None
        self.pending: tuple[LightMode, float | None] | None = None
        self.index = 0
        self.light_on = False
        self._lock = threading.Lock()

    def step(self, t: float) -> FrameRecord:
        dt = 1.0
        if self.rng.random() < dt / self.mean_arrival_s:
            self.people.append((t, t + self.rng.uniform(5.0, 90.0)))
        self.people = [p for p in self.people if p[1] > t]
        waiting = sum(t - a >= self.cfg.waiting.dwell_s for a, _ in self.people)
        if waiting:
            self.last_waiting_seen = t
        with self._lock:
            pending, self.pending = self.pending, None
        if pending is not None:
            self.rules.set_mode(pending[0], t, pending[1])
        light = self.rules.update(t, waiting, self.last_waiting_seen, True)
        self.light_on = light.on
        self.index += 1
        decision = Decision(t=t, occupancy=len(self.people), waiting=waiting, light=light,
                            mode=self.rules.mode, in_service=True, people=())
        frame = Frame(_IMAGE, t, self.index, wall=datetime.now())
        dets = [Detection(0.4, 0.2, 0.5, 0.8, 0.9)] * len(self.people)
        return FrameRecord(frame, dets, decision, light.on, 1,
                           {"invoke": self.rng.gauss(45.0, 5.0), "frame": 60.0})

    # Control (link thread)
    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        with self._lock:
            self.pending = (mode, for_s)

    def reload(self) -> Future[dict[str, Any]]:
        raise CommandFailed(Failure.FAILED, "fleet-sim stops have no config file")

    def selftest_frame(self) -> Future[dict[str, Any]]:
        f: Future[dict[str, Any]] = Future()
        f.set_result({"relay": {"ok": True, "pulsed": False, "note": "simulated"},
                      "model": {"ok": True, "invoke_ms": 0.0, "people": len(self.people)}})
        return f

    def snapshot_frame(self) -> Future[Any]:
        raise CommandFailed(Failure.FAILED, "fleet-sim stops have no camera")


def raise_open_files(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards ``needed`` (up to the hard limit); (old, new)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        log.warning("open_files_limit_raised", old=soft, new=want, hard=hard)
        return soft, want
    return soft, soft


def stop_config(base: Config, stop_id: str) -> Config:
    """``base`` (with its in-memory outbox) for one fake stop; the sections are shared, only
    ``stop`` is its own (a deep copy per stop would cost seconds for a thousand)."""
    return base.model_copy(update={"stop": StopConfig(id=stop_id, name=f"fleet-sim {stop_id}")})


class Fleet:
    """N fake stops on one link thread, stepped by one world thread."""

    def __init__(self, base: Config, stops: int, id_prefix: str = "fleet", seed: int = 1,
                 fps: float = 1.0, tick_s: float = 0.25, first: int = 0,
                 width: int | None = None) -> None:
        raise_open_files(2 * stops + 256)
        base = memory_outbox(base)
        base.mqtt.client_id = None
        self.runner = LinkRunner(tick_s=tick_s, name="fleet-links")
        self.fps = fps
        self.stops: list[tuple[FakeStop, MqttService]] = []
        width = width or max(4, len(str(stops)))
        for i in range(first, first + stops):
            cfg = stop_config(base, f"{id_prefix}-{i:0{width}d}")
            fake = FakeStop(cfg, random.Random(seed * 100003 + i))
            svc = MqttService(cfg, runner=self.runner, seed=seed * 7919 + i)
            svc.attach(fake)
            self.stops.append((fake, svc))
        self._halt = threading.Event()
        self._world = threading.Thread(target=self._run_world, name="fleet-world", daemon=True)

    def start(self) -> None:
        self.runner.start()
        self._world.start()

    def _run_world(self) -> None:
        t0 = time.monotonic()
        period = 1.0 / self.fps
        n = 0
        while not self._halt.wait(max(0.0, t0 + n * period - time.monotonic())):
            t = n * period
            for fake, svc in self.stops:
                svc.on_frame(fake.step(t))
            n += 1

    def summary(self) -> list[dict[str, Any]]:
        """Each stop's own event counter, read after ``close``: ``last_seq`` (every event it
        numbered is 1 .. last_seq), ``queued`` (still unacknowledged by the broker) and
        ``dropped`` (refused by a full outbox). A consumer's "none missing" is checked
        against this."""
        return [{"stop": svc.cfg.stop.id, "last_seq": svc.link.outbox.last_seq,
                 "queued": len(svc.link.outbox), "dropped": svc.link.outbox.dropped}
                for _, svc in self.stops]

    def connected(self) -> int:
        return sum(svc.link.connected for _, svc in self.stops)

    def close(self) -> None:
        """Clean exit for every stop (``stopped``); the broker sends no last will."""
        self._halt.set()
        self._world.join(timeout=5.0)
        for _, svc in self.stops:
            svc._closed = True
            svc.runner.call(lambda s=svc: s.link.begin_close("stopped", 2.0, time.monotonic()))
        deadline = time.monotonic() + 10.0
        for _, svc in self.stops:
            svc.link.closed.wait(max(0.0, deadline - time.monotonic()))
        self.runner.stop()
        self.runner.join(timeout=5.0)
