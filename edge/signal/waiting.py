"""The waiting JSON: whether anyone waits at the stop, how many the camera counts, since when,
and whether the camera or the button says so. One owner of its shape (docs/bus.md), used by the
retained MQTT topic and the webhook alike.

``since`` is wall-clock UTC, fixed once per wait: the controller's clock is monotonic, so the
start of a wait is converted once, when it is first seen, and kept while the wait lasts.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any


class WaitingSource(str, Enum):
    CAMERA = "camera"
    BUTTON = "button"
    BOTH = "both"


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(timezone.utc).isoformat(timespec="seconds")


class WaitingSignal:
    """``update(state, wall)`` -> the new JSON document when it changed, else None."""

    def __init__(self, stop_id: str) -> None:
        self.stop_id = stop_id
        self._since_mono: float | None = None
        self._since_wall: datetime | None = None
        self._last: dict[str, Any] | None = None

    def initial(self) -> dict[str, Any]:
        """Nobody waiting: what the stop says before its first cycle."""
        return self._doc(0, False, None)

    def update(self, state: Any, wall: datetime) -> dict[str, Any] | None:
        """``state``: a StopState (waiting, pressed, waiting_since, t)."""
        since = state.waiting_since
        if since is None:
            self._since_mono = self._since_wall = None
        elif since != self._since_mono:
            self._since_mono = since
            self._since_wall = _aware(wall) - timedelta(seconds=max(0.0, state.t - since))
        doc = self._doc(state.waiting, state.pressed, self._since_wall)
        if doc == self._last:
            return None
        self._last = doc
        return doc

    def _doc(self, count: int, pressed: bool, since: datetime | None) -> dict[str, Any]:
        camera = count > 0
        source = (WaitingSource.BOTH if camera and pressed else WaitingSource.CAMERA if camera
                  else WaitingSource.BUTTON if pressed else None)
        return {"stop_id": self.stop_id, "waiting": camera or pressed, "count": count,
                "button": pressed, "source": None if source is None else source.value,
                "since": _iso(since) if camera or pressed else None}


def _aware(wall: datetime) -> datetime:
    return wall if wall.tzinfo is not None else wall.astimezone()
