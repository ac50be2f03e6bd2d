"""How the daemon's previous run ended: a small file in the state directory, written when a run
starts and rewritten when it ends.

A run that ends by itself says how (``clean``, or ``crashed`` with the reason); one that was
killed (``kill -9``, the kernel's OOM killer, a power cut) cannot, so its file still says
``running`` at the next start, which then reports ``killed``. The next start tells the fleet in
its ``started`` event, so a restart is never silent.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import structlog

from edge.files import write_atomic

log = structlog.get_logger("stopsafe.run_marker")


class RunEnd(str, Enum):
    """How a run ended, as the next start reports it."""

    FIRST = "first"  # no earlier run is recorded here
    RUNNING = "running"  # (in the file only) the run has not ended
    CLEAN = "clean"  # a signal or the end of a camera file: light off, status stopped
    CRASHED = "crashed"  # ended on an error it could name (the reason)
    KILLED = "killed"  # ended without a word: kill -9, out of memory, power cut


@dataclass(frozen=True, slots=True)
class PreviousRun:
    end: RunEnd
    started: str | None = None  # ISO 8601, UTC
    ended: str | None = None
    reason: str | None = None

    def payload(self) -> dict[str, Any]:
        """The fields of the ``started`` event."""
        return {f"previous_{k}": v.value if isinstance(v, Enum) else v
                for k, v in asdict(self).items() if v is not None}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunMarker:
    """``begin()`` at start, ``end()`` once at the end. A state directory that cannot be
    written never stops the daemon: it is logged, and the next start reports ``first``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = _now()
        self.ended = False

    def begin(self) -> PreviousRun:
        previous = self.read()
        self._write({"end": RunEnd.RUNNING.value, "started": self.started, "pid": os.getpid()})
        return previous

    def end(self, how: RunEnd, reason: str | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self._write({"end": how.value, "started": self.started, "ended": _now(),
                     **({"reason": reason[:400]} if reason else {})})

    def read(self) -> PreviousRun:
        """How the run recorded here ended (``killed`` if it never said)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            end = RunEnd(data["end"])
        except FileNotFoundError:
            return PreviousRun(RunEnd.FIRST)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("run_marker_unreadable", path=str(self.path), error=str(exc)[:200])
            return PreviousRun(RunEnd.FIRST)
        if end is RunEnd.RUNNING:
            end = RunEnd.KILLED
        return PreviousRun(end, data.get("started"), data.get("ended"), data.get("reason"))

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a power cut right after must not leave an empty file
            write_atomic(self.path, json.dumps(data))
        except OSError as exc:
            log.warning("run_marker_unwritable", path=str(self.path), error=str(exc)[:200])
