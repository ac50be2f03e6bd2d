"""Where snapshots come from: a URL polled (the standard library's urllib: one GET a poll, no
new dependency) or a folder of recorded GTFS-realtime files replayed in the feed's own order.

Every failure of a poll (no answer, an HTTP error, a body that is not a feed) is a
:class:`FeedError` whose text never holds the TAGO service key.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from edge.arrivals import gtfs_rt, tago
from edge.arrivals.gtfs_rt import FeedError
from edge.decision.feed import Snapshot

MAX_BODY_BYTES = 32 << 20  # a whole city's GTFS-realtime feed is a few MB
FEED_SUFFIXES = (".pb", ".json", ".bin")
USER_AGENT = "stopsafe-arrivals"


class FeedSource(Protocol):
    def poll(self) -> Snapshot:
        """The feed now; raises FeedError when it cannot be had."""


def fetch(url: str, timeout_s: float, secret: str | None = None) -> bytes:
    """One GET; FeedError (without ``secret``) on anything but a 2xx answer with a body."""
    try:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Accept": "application/x-protobuf, "
                                                   "application/json, */*"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = resp.read(MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise FeedError(tago.redact(f"HTTP {exc.code} from {url}", secret)) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        why = getattr(exc, "reason", exc)  # (a broken answer: IncompleteRead, BadStatusLine)
        raise FeedError(tago.redact(f"no answer from {url}: {why}", secret)) from None
    if len(body) > MAX_BODY_BYTES:
        raise FeedError(tago.redact(f"answer from {url} larger than {MAX_BODY_BYTES} B",
                                    secret))
    if not body:
        raise FeedError(tago.redact(f"empty answer from {url}", secret))
    return body


class GtfsRtSource:
    """One or more GTFS-realtime URLs (VehiclePositions and TripUpdates may be apart), read
    together as one moment."""

    def __init__(self, urls: Sequence[str], stop_id: str, timeout_s: float = 10.0) -> None:
        self.urls, self.stop_id, self.timeout_s = list(urls), stop_id, timeout_s

    def poll(self) -> Snapshot:
        msgs = [gtfs_rt.parse_message(fetch(u, self.timeout_s)) for u in self.urls]
        return gtfs_rt.snapshot(msgs, self.stop_id)


class ServiceSource:
    """A Korean arrival service (TAGO, Seoul) for one stop: one GET of ``url`` (which holds
    the key, ``secret``, never shown) read by ``parse``; the snapshot's time is this box's
    clock (the services give none)."""

    def __init__(self, url: str, secret: str, stop_id: str,
                 parse: Callable[[bytes, str, float], Snapshot], timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.url, self.secret, self.stop_id, self.parse = url, secret, stop_id, parse
        self.timeout_s, self.clock = timeout_s, clock

    def poll(self) -> Snapshot:
        return self.parse(fetch(self.url, self.timeout_s, self.secret), self.stop_id,
                          self.clock())

    def __repr__(self) -> str:  # never the key
        return f"ServiceSource(stop_id={self.stop_id!r})"


def feed_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in FEED_SUFFIXES)
    if not files:
        raise FeedError(f"{folder}: no feed files ({', '.join(FEED_SUFFIXES)})")
    return files


def replay_folder(folder: Path, stop_id: str) -> list[Snapshot]:
    """A folder of recorded GTFS-realtime files as snapshots in the feed's time order (files
    with the same header time, e.g. VehiclePositions and TripUpdates, are one moment)."""
    by_time: dict[int, list[gtfs_rt.rt.FeedMessage]] = {}
    for p in feed_files(folder):
        try:
            msg = gtfs_rt.parse_message(p.read_bytes())
        except FeedError as exc:
            raise FeedError(f"{p.name}: {exc}") from None
        by_time.setdefault(int(msg.header.timestamp), []).append(msg)
    return [gtfs_rt.snapshot(msgs, stop_id) for _, msgs in sorted(by_time.items())]
