"""POST every change of the waiting JSON to the bus side's URL, in order, at least once.

Changes go into an :class:`~edge.runtime.outbox.Outbox` (the same bounded, counted, on-disk
queue as the MQTT events: it outlives an outage and a restart) and are sent oldest first from a
thread of their own, each until the URL answers 2xx, waiting ``retry_min_s`` doubling up to
``retry_max_s`` between failures. Each POST carries its ``seq`` (never reused) so the receiver
can drop a repeat. The frame thread only compares and queues. While POSTs fail the fault
``webhook_failed`` is active.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any

import structlog

from edge.config import BusSignalConfig, DropPolicy, state_dir
from edge.runtime.faults import Fault, FaultReport
from edge.runtime.outbox import Outbox
from edge.signal.waiting import WaitingSignal

log = structlog.get_logger("stopsafe.webhook")

CLOSE_GRACE_S = 2.0


def default_webhook_path(stop_id: str) -> Path:
    return state_dir() / f"webhook-{stop_id}.sqlite"


class WebhookSink:
    """A pipeline sink; see the module's doc."""

    def __init__(self, cfg: BusSignalConfig, stop_id: str, report: FaultReport | None = None,
                 path: Path | str | None = None) -> None:
        assert cfg.webhook_url is not None
        self.cfg, self.url, self.report = cfg, cfg.webhook_url, report
        self.signal = WaitingSignal(stop_id)
        where = path or cfg.outbox_path or default_webhook_path(stop_id)
        self.outbox = Outbox(where, cfg.max_queue, DropPolicy.OLDEST,
                             memory_max_events=cfg.max_queue)
        self.sent = 0
        self.failed_posts = 0
        self._q: SimpleQueue[dict[str, Any]] = SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    # ---- frame thread ----
    def on_record(self, record: Any) -> None:
        wall = record.frame.wall if record.frame is not None else None
        doc = self.signal.update(record.state, wall or datetime.now())
        if doc is not None:
            self._q.put(doc)
            self._wake.set()

    @property
    def dropped(self) -> int:
        return self.outbox.dropped

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=CLOSE_GRACE_S + self.cfg.timeout_s + 1.0)
        self.outbox.close()

    # ---- the sender's thread ----
    def _run(self) -> None:
        delay = self.cfg.retry_min_s
        deadline: float | None = None
        while True:
            self._take()
            batch = self.outbox.after(0, 1)
            if self._stop.is_set():
                deadline = deadline or time.monotonic() + CLOSE_GRACE_S
                if not batch or time.monotonic() >= deadline:
                    return
            if not batch:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            seq, doc = batch[0]
            if self._post({**doc, "seq": seq}):
                self.outbox.ack(seq)
                self.sent += 1
                delay = self.cfg.retry_min_s
                if self.report is not None:
                    self.report(Fault.WEBHOOK_FAILED, False)
                continue
            self.failed_posts += 1
            if self.report is not None:
                self.report(Fault.WEBHOOK_FAILED, True, url=self.url,
                            queued=len(self.outbox), dropped=self.outbox.dropped)
            self._stop.wait(delay)
            delay = min(delay * 2, self.cfg.retry_max_s)

    def _take(self) -> None:
        while True:
            try:
                doc = self._q.get_nowait()
            except Empty:
                return
            self.outbox.append(doc)

    def _post(self, doc: dict[str, Any]) -> bool:
        body = json.dumps(doc, separators=(",", ":")).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                return 200 <= resp.status < 300
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.debug("webhook_post_failed", error=str(getattr(exc, "reason", exc))[:200])
            return False
