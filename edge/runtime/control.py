"""The one control interface of a running stop: what a face (the MQTT command handler, SIGHUP,
the local page) may ask of it.

One protocol for every face and every layer between: the stop's own implementation
(:class:`edge.app.control.PipelineControl`) acts on the pipeline between two frames; a face may
wrap it in its own implementation of the same protocol to add what only it knows (the MQTT
face adds the broker's round trip to ``selftest`` and publishes the ``snapshot``). Every method
that waits for the frame thread answers with a future; a well-formed request that does not
succeed fails it (or raises) with :class:`CommandFailed`.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from edge.decision.light_rules import LightMode
from edge.wire import Failure


class CommandFailed(Exception):
    """Raised by a control (or set on its future): the request was well-formed but did not
    succeed. ``extra`` goes into the answer beside the failure's word and detail."""

    def __init__(self, failure: Failure, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.extra = extra


class Control(Protocol):
    """What may be asked of a running stop."""

    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        """The light's manual mode (AUTO, or forced on or off, for ``for_s`` or until told)."""

    def reload(self) -> Future[dict[str, Any]]:
        """Re-read the config: ``{"applied": [...], "restart_needed": [...]}``."""

    def selftest(self) -> Future[dict[str, Any]]:
        """``{"checks": {name: {"ok": bool, ...}}}``; any check not ok fails the future with
        ``Failure.SELFTEST_FAILED`` (the checks in its ``extra``)."""

    def snapshot(self) -> Future[dict[str, Any]]:
        """The last frame with the people in it: the stop answers ``{"image", "boxes"}``; a
        face that sends the picture on answers with where it went instead."""

    def republish(self) -> None:
        """Say the stop's state again (the ``status`` command)."""
