"""The maintenance link's own faults: its outbox's disk, and a camera that sends nothing.

The link does not write the stop's faults itself: it reports them to the stop's one fault writer
(``Pipeline.report_fault``) once it is bound to a stop, and holds what it saw before that (the
outbox is opened before the pipeline exists). ``camera_stale`` is checked here, in the link's
thread, because the frame loop that would notice is the thing that may be stuck.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edge.runtime.faults import ActiveFault, FaultReport
from edge.runtime.outbox import OutboxHealth
from edge.wire import Fault


class LinkFaults:
    """Reports the outbox's and the camera-stale faults to the stop, once bound."""

    def __init__(self, camera_stale_s: Callable[[], float],
                 frame_age_s: Callable[[float], float | None], started: float) -> None:
        self.camera_stale_s = camera_stale_s
        self.frame_age_s = frame_age_s
        self.started = started
        self._report: FaultReport | None = None
        self._active: Callable[[], Mapping[Fault, ActiveFault]] | None = None
        self._early: dict[Fault, dict[str, Any]] = {}  # raised before binding: the detail

    def active(self) -> frozenset[Fault]:
        """The stop's active faults (none before it is bound)."""
        return frozenset(self.active_detail())

    def active_detail(self) -> Mapping[Fault, ActiveFault]:
        """The stop's active faults with since when and why (none before it is bound)."""
        return {} if self._active is None else self._active()

    def outbox_health(self, health: OutboxHealth, active: bool, detail: dict[str, Any]
                      ) -> None:
        """The outbox's ``on_health``: its disk failed or recovered, or its file was corrupt."""
        fault = Fault.OUTBOX_CORRUPT if health is OutboxHealth.CORRUPT else Fault.OUTBOX_FAILED
        if self._report is not None:
            self._report(fault, active, **detail)
        elif active:
            self._early[fault] = detail
        else:
            self._early.pop(fault, None)

    def bind(self, report: FaultReport, active: Callable[[], Mapping[Fault, ActiveFault]]
             ) -> None:
        """Report to the stop from now on (and what was seen before now); ``active`` lists the
        stop's active faults."""
        self._report, self._active = report, active
        early, self._early = self._early, {}
        for fault, detail in early.items():
            report(fault, True, **detail)

    def check_camera(self, now: float) -> None:
        """No frame for ``mqtt.camera_stale_s`` (or none since the start): ``camera_stale``."""
        if self._report is None:
            return
        age = self.frame_age_s(now)
        waited = now - self.started if age is None else age
        self._report(Fault.CAMERA_STALE, waited > self.camera_stale_s())
