"""A watchdog inside the daemon: a pipeline stage that stops returning ends the process.

A Python thread stuck in a camera driver or an interpreter call cannot be interrupted, so the only
safe way on is out: say which stage hung and for how long, then exit non-zero so systemd
restarts the daemon (the relay's pin is released by the kernel, and a floating pin means "off"
with the documented wiring). This complements systemd's WatchdogSec, which only sees silence.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

import structlog

log = structlog.get_logger("stopsafe.watchdog")
EX_SOFTWARE = 70


class Staged(Protocol):
    stage: str
    stage_since: float


class StageWatchdog:
    def __init__(self, pipeline: Staged, timeout_s: float, *, poll_s: float = 1.0,
                 exit: Callable[[int], None] = os._exit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pipeline = pipeline
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._exit = exit
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stage-watchdog", daemon=True)
        self.fired: str | None = None

    def start(self) -> StageWatchdog:
        self._thread.start()
        return self

    def check(self) -> bool:
        """True (and the process is ended) when the current stage has run too long."""
        stage, since = self.pipeline.stage, self.pipeline.stage_since
        stuck_s = self._clock() - since
        if stage in ("idle", "start") or stuck_s < self.timeout_s:
            return False
        self.fired = stage
        log.critical("stage_hung", stage=stage, stuck_s=round(stuck_s, 1),
                     timeout_s=self.timeout_s, action="exit", exit_status=EX_SOFTWARE)
        self._exit(EX_SOFTWARE)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self.check():
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self.poll_s + 1)
