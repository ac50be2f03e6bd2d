"""fleet-sim: N fake stops on the broker, each with its own connection and last will, each the
daemon's own stop (:func:`edge.runtime.assembly.assemble`: controller, pipeline, gpiozero's mock
relay, ``MqttService`` on a shared ``LinkRunner``) with a small random world for a camera.

The world (:class:`FakeWorld`) is the only fake: people arrive (Poisson), stand at a spot in the
zone, and leave; it is the stop's frame source and its detector. Everything after it is the real
code, so a fake stop's states, events, telemetry and command answers are the messages a real stop
sends, and ``light`` commands work on it.
"""

from __future__ import annotations

import random
import resource
import threading
import time
from datetime import datetime
from typing import Any

import numpy as np
import structlog

from detector.base import Detection, DetectorResult
from edge.app.compose import assemble
from edge.app.stop import Stop
from edge.config import Config, StopConfig
from edge.decision.zones import Zone
from edge.mqtt.link import LinkRunner
from edge.mqtt.service import MqttService, memory_outbox
from edge.runtime.frames import Frame

log = structlog.get_logger("stopsafe.fleet")

_IMAGE = np.zeros((2, 2, 3), np.uint8)  # no video: one shared dummy frame
BOX_H, BOX_W = 0.3, 0.1  # a fake person's box, in frame fractions


class FakeWorld:
    """One stop's world: arrivals (Poisson), a standing spot in the zone each, departures.

    It is the stop's camera (``read`` gives a frame at the world's time, which the fleet's world
    thread sets) and its detector (every person present, seen every frame).
    """

    live = False

    def __init__(self, cfg: Config, rng: random.Random, mean_arrival_s: float = 90.0) -> None:
        self.rng = rng
        self.mean_arrival_s = mean_arrival_s
        self.zone = Zone(cfg.zone.polygon)
        self.people: list[tuple[float, Detection]] = []  # (leaves t, box)
        self.t = 0.0
        self.index = 0

    def advance(self, t: float, dt: float) -> None:
        if self.rng.random() < dt / self.mean_arrival_s:
            self.people.append((t + self.rng.uniform(5.0, 90.0), self._spot()))
        self.people = [p for p in self.people if p[0] > t]
        self.t = t

    def _spot(self) -> Detection:
        x1, y1, x2, y2 = self.zone.bounds()
        for _ in range(100):
            x, y = self.rng.uniform(x1, x2), self.rng.uniform(y1, y2)
            if self.zone.contains((x, y)):
                break
        return Detection(x - BOX_W / 2, max(0.0, y - BOX_H), x + BOX_W / 2, y,
                         round(self.rng.uniform(0.6, 0.95), 2))

    def read(self) -> Frame:
        self.index += 1
        return Frame(_IMAGE, self.t, self.index, wall=datetime.now())

    def detect(self, _image: Any) -> DetectorResult:
        result = DetectorResult([box for _, box in self.people])
        result.times.invokes = 1
        result.times.invoke_ms = self.rng.gauss(45.0, 5.0)
        return result

    def close(self) -> None:
        pass


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
        self.stops: list[tuple[FakeWorld, Stop]] = []
        width = width or max(4, len(str(stops)))
        for i in range(first, first + stops):
            cfg = stop_config(base, f"{id_prefix}-{i:0{width}d}")
            world = FakeWorld(cfg, random.Random(seed * 100003 + i))
            svc = MqttService(cfg, runner=self.runner, seed=seed * 7919 + i)
            stop = assemble(cfg, world, detect=world.detect, mqtt=svc, pin_factory="mock",
                            clock=lambda w=world: w.t, start=0.0, health=False, gate=False)
            self.stops.append((world, stop))
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
            for world, stop in self.stops:
                world.advance(t, period)
                stop.pipeline.cycle()
            n += 1

    def summary(self) -> list[dict[str, Any]]:
        """Each stop's own event counter, read after ``close``: ``last_seq`` (every event it
        numbered is 1 .. last_seq), ``queued`` (still unacknowledged by the broker) and
        ``dropped`` (refused by a full outbox). A consumer's "none missing" is checked
        against this."""
        return [{"stop": stop.cfg.stop.id, "last_seq": stop.mqtt.link.outbox.last_seq,
                 "queued": len(stop.mqtt.link.outbox), "dropped": stop.mqtt.link.outbox.dropped}
                for _, stop in self.stops if stop.mqtt is not None]

    def connected(self) -> int:
        return sum(stop.mqtt.link.connected for _, stop in self.stops if stop.mqtt is not None)

    def close(self) -> None:
        """Clean exit for every stop (light off, ``stopped``); the broker sends no last will."""
        self._halt.set()
        self._world.join(timeout=5.0)
        for _, stop in self.stops:
            stop.close()  # light off, last record; on the shared runner the link only begins
        deadline = time.monotonic() + 10.0
        for _, stop in self.stops:
            if stop.mqtt is not None:
                stop.mqtt.link.closed.wait(max(0.0, deadline - time.monotonic()))
        self.runner.stop()
        self.runner.join(timeout=5.0)
