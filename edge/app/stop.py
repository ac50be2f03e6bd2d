"""One assembled stop: its pipeline, the parts it owns, the config it runs on, and its reload.

A reload re-configures or rebuilds every user of a changed section (the table is
:data:`edge.runtime.reload.SECTION_USERS`); the parts themselves are built from their sections
in :mod:`edge.runtime.assembly`, and put together by :func:`edge.app.compose.assemble`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from detector.frontend import ZoneDetector
from edge.config import Config
from edge.decision.controller import StopController
from edge.decision.zones import Zone
from edge.runtime.assembly import build_detector, build_health, controller_settings, zone_bounds
from edge.runtime.faults import FaultRegistry
from edge.runtime.gate import build_gate
from edge.runtime.pipeline import Pipeline
from edge.runtime.reload import ConfigDiff, RunningConfig, Update, diff

if TYPE_CHECKING:
    from edge.mqtt.service import MqttService

log = structlog.get_logger("stopsafe.build")


@dataclass(slots=True)
class PreparedReload:
    """A new config read and checked outside the frame thread, with the detector it needs
    already built on verified models (building one takes a second; the frame loop must not
    wait for it)."""

    cfg: Config
    detector: ZoneDetector | None = None

    def discard(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None


@dataclass
class Stop:
    """One assembled stop: its pipeline, the parts it owns (closed with it), and the one owner
    of the config it runs on (``running``; a reload replaces it)."""

    running: RunningConfig
    pipeline: Pipeline
    mqtt: MqttService | None = None
    detector: Any = None  # the detector front-end (crop to the zone), built here or given
    feedback: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    owns_detector: bool = False  # built here: rebuilt on a reload, closed with the stop
    health_on: bool = True  # picture health is part of this stop (not for unrelated stills)
    gate_on: bool = True  # the adaptive gate is (not for stills and fake stops)

    @property
    def cfg(self) -> Config:
        return self.running.cfg

    @property
    def controller(self) -> StopController:
        return self.pipeline.controller

    @property
    def faults(self) -> FaultRegistry:
        return self.pipeline.faults

    def run(self) -> int:
        return self.pipeline.run()

    # ---------------- reload ----------------
    def prepare_reload(self, new: Config) -> PreparedReload:
        """Outside the frame thread: when the detector section changed (and this stop built its
        detector), build the new one now; a missing or altered model raises ModelError and the
        running stop is left as it is."""
        prepared = PreparedReload(new)
        if Update.DETECTOR in self._diff(new).updates:
            prepared.detector = build_detector(new)
        return prepared

    def apply_reload(self, prepared: PreparedReload) -> ConfigDiff:
        """In the frame thread, between two frames: every part that uses a changed section is
        re-configured or rebuilt (:data:`edge.runtime.reload.SECTION_USERS`); sections that need
        a restart stay as they run. Compared against the running config *now* (another reload
        may have come first)."""
        change = self._diff(prepared.cfg)
        new, updates = change.running, change.updates
        p = self.pipeline
        if Update.DETECTOR in updates:
            fresh = prepared.detector or build_detector(new)
            prepared.detector = None
            old, self.detector = self.detector, fresh
            p.detect = fresh.detect
            old.close()
            if self.mqtt is not None:
                self.mqtt.describe_runtime(fresh.runtime)
        elif Update.CROP in updates and self.detector is not None:
            self.detector.set_zone(zone_bounds(new))
        prepared.discard()
        if Update.CONTROLLER in updates:
            p.controller.reload(controller_settings(new))
        if Update.GATE in updates and self.gate_on:
            p.gate = build_gate(new, Zone(new.zone.polygon))
        if Update.HEALTH in updates and self.health_on:
            p.health = build_health(new)
        self.running.replace(new, updates)
        log.info("config_reloaded", **change.answer())
        return change

    def _diff(self, new: Config) -> ConfigDiff:
        """``new`` against the running config; a detector given by the caller (the
        simulator's, a script) is not rebuilt here, so its section waits for a restart."""
        return diff(self.cfg, new, frozenset() if self.owns_detector else frozenset({"detector"}))

    def close(self) -> None:
        """Light off and sinks closed first (the pipeline's shutdown), then the rest."""
        try:
            self.pipeline.shutdown()
        finally:
            if self.feedback is not None:
                self.feedback.close()
            if self.detector is not None and self.owns_detector:
                self.detector.close()
            for close in self.closers:
                close()

