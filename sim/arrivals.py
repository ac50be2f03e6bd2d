"""The simulator's arrivals feed and button presses, on the clip's clock.

A scenario's ``arrivals_feed`` is a folder of recorded GTFS-realtime files, each named by its
offset in seconds from the clip's start: from that moment on it is what the feed says, handed to
the pipeline every ``arrivals.poll_s`` of clip time as the live poller would. Presses of the
waiting button (``button: [{at_s, for_s}]``) go to the pipeline at their time. Both wrap the
clip's frame source, so they reach the controller in the cycle of the first frame at or after
their time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.arrivals import gtfs_rt
from edge.arrivals.source import feed_files
from edge.decision.feed import Snapshot


def read_feed_folder(folder: Path) -> list[tuple[float, Any]]:
    """(offset, FeedMessage) in offset order; ValueError for a file not named by a number or
    not a feed."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    out = []
    for p in feed_files(folder):
        try:
            offset = float(p.stem)
        except ValueError:
            raise ValueError(f"{p.name}: not named by its offset in seconds") from None
        if offset < 0:
            raise ValueError(f"{p.name}: a negative offset")
        out.append((offset, gtfs_rt.parse_message(p.read_bytes())))
    return sorted(out, key=lambda x: x[0])


class ClipFeed:
    """The feed's snapshot due at a clip time (a new file, or a poll's worth of time later)."""

    def __init__(self, folder: Path, stop_id: str, poll_s: float) -> None:
        self.snaps = [(o, gtfs_rt.snapshot([m], stop_id)) for o, m in read_feed_folder(folder)]
        self.poll_s = poll_s
        self._current = -1
        self._last_t: float | None = None

    def epoch(self) -> float:
        """The clip's start in feed time, from the first file."""
        offset, snap = self.snaps[0]
        return snap.at - offset

    def due(self, t: float) -> Snapshot | None:
        i = self._current
        while i + 1 < len(self.snaps) and self.snaps[i + 1][0] <= t:
            i += 1
        if i < 0:
            return None
        if i != self._current or self._last_t is None or t - self._last_t >= self.poll_s:
            self._current, self._last_t = i, t
            return self.snaps[i][1]
        return None


class ScenarioInputs:
    """Wraps the clip's source: after each read, what is due goes to the pipeline."""

    def __init__(self, inner: Any, pipeline: Callable[[], Any], feed: ClipFeed | None,
                 presses: Sequence[tuple[float, float]], clock: Callable[[], float]) -> None:
        self.inner, self.pipeline, self.feed, self.clock = inner, pipeline, feed, clock
        self.presses = sorted(presses)
        self.pressed = 0

    def __getattr__(self, name: str) -> Any:  # fps, duration_s, start_wall ... of the clip
        return getattr(self.inner, name)

    def read(self) -> Any:
        try:
            frame = self.inner.read()
        except Exception:
            self._deliver(self.clock())
            raise
        if frame is not None:
            self._deliver(frame.t)
        return frame

    def _deliver(self, t: float) -> None:
        p = self.pipeline()
        while self.pressed < len(self.presses) and self.presses[self.pressed][0] <= t:
            p.request_press(self.presses[self.pressed][1])
            self.pressed += 1
        snap = self.feed.due(t) if self.feed is not None else None
        if snap is not None:
            p.feed(snap)

    def close(self) -> None:
        self.inner.close()
