"""The arrivals feed's own thread: poll, hand each snapshot to the pipeline, keep the
``arrivals_feed`` fault. The light never waits on the feed: a poll that hangs or fails only
delays the next snapshot, and the controller forgets buses the feed stopped talking about."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from edge.arrivals.source import FeedError, FeedSource
from edge.decision.feed import Snapshot
from edge.runtime.faults import Fault, FaultReport

log = structlog.get_logger("stopsafe.arrivals")


class FeedPoller:
    """Polls ``source`` every ``poll_s``; ``fault_after`` failures in a row raise the fault."""

    def __init__(self, source: FeedSource, deliver: Callable[[Snapshot], None],
                 report: FaultReport, poll_s: float, fault_after: int) -> None:
        self.source, self.deliver, self.report = source, deliver, report
        self.poll_s, self.fault_after = poll_s, fault_after
        self.failures = 0  # in a row
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arrivals-feed", daemon=True)

    def start(self) -> FeedPoller:
        self._thread.start()
        return self

    def poll_once(self) -> Snapshot | None:
        """One poll: the snapshot (delivered), or None when it failed (counted)."""
        try:
            snap = self.source.poll()
        except FeedError as exc:
            self.failures += 1
            log.debug("arrivals_poll_failed", error=str(exc), in_a_row=self.failures)
            if self.failures >= self.fault_after:
                self.report(Fault.ARRIVALS_FEED, True, error=str(exc)[:200],
                            failed_polls=self.failures)
            return None
        self.failures = 0
        self.report(Fault.ARRIVALS_FEED, False)
        self.deliver(snap)
        return snap

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug in an adapter must not end the stop: log, go on
                log.exception("arrivals_poll_crashed")
            self.stop_event.wait(self.poll_s)

    def close(self) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
