"""``GET /metrics``: the stop's figures in Prometheus' text format, from the official client.

Each server has a registry of its own (no process-wide globals, so two stops in one test
process do not share counters). Counters move in ``observe``, in the server's thread (the frame
thread only queues each cycle's figures, see ``edge.web.view``); the MQTT link's outbox depth
and connection are read when Prometheus scrapes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from edge.decision.controller import StopState
from edge.decision.events import StopEvent
from edge.runtime.faults import Fault, FaultEvent
from edge.runtime.pipeline import StopRecord

__all__ = ["CONTENT_TYPE_LATEST", "Cycle", "StopMetrics"]

# no "_created" twin of every counter: Prometheus does not need it, and it doubles the text
disable_created_metrics()

# the stages a cycle reports (StopRecord.times_ms), milliseconds: 0.5 ms .. 4 s
STAGE_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


class Cycle(NamedTuple):
    """What the page counts of one cycle: the record without its picture (the frame thread
    queues this; the picture is not kept alive by the queue)."""

    t: float
    light_on: bool
    switched: bool
    invokes: int
    detected: bool
    has_frame: bool
    times_ms: dict[str, float]
    state: StopState
    events: tuple[StopEvent, ...]

    @classmethod
    def of(cls, r: StopRecord) -> Cycle:
        return cls(r.t, bool(r.light_on), r.switched, r.invokes, r.detected,
                   r.frame is not None, r.times_ms, r.state, r.events)


class StopMetrics:
    def __init__(self, stop_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, labels = self.registry, {"stop": stop_id}

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, ("stop", *extra), registry=r)

        self.frames = counter("stopsafe_frames", "Frames the loop processed").labels(**labels)
        self.blind = counter("stopsafe_blind_cycles",
                             "Cycles without a frame (camera lost)").labels(**labels)
        self.model_runs = counter("stopsafe_model_runs",
                                  "Model invocations (tiles count one each)").labels(**labels)
        self.detected = counter("stopsafe_detector_frames", "Frames the detector ran on "
                                "(the adaptive rate skips the others)").labels(**labels)
        self.light_on_s = counter("stopsafe_light_on_seconds",
                                  "Seconds the relay read back on").labels(**labels)
        self.switches = counter("stopsafe_light_switches",
                                "Times the relay was switched (on or off)").labels(**labels)
        self.faults = counter("stopsafe_faults", "Faults raised, by kind", ("fault",))
        self.stage = Histogram("stopsafe_stage_seconds", "Time of each stage of a cycle",
                               ("stop", "stage"), buckets=STAGE_BUCKETS_S, registry=r)
        self.fault_active = Gauge("stopsafe_fault_active", "1 while the fault is active",
                                  ("stop", "fault"), registry=r)
        for f in Fault:
            self.faults.labels(stop=stop_id, fault=f.value)
            self.fault_active.labels(stop=stop_id, fault=f.value).set(0)
        self.light = Gauge("stopsafe_light_on", "The relay's read-back (1 on)", ("stop",),
                           registry=r).labels(**labels)
        self.waiting = Gauge("stopsafe_waiting", "People waiting now", ("stop",),
                             registry=r).labels(**labels)
        self.occupancy = Gauge("stopsafe_occupancy", "Confirmed people in the zone now",
                               ("stop",), registry=r).labels(**labels)
        self.outbox = Gauge("stopsafe_outbox_depth", "MQTT events waiting in the outbox",
                            ("stop",), registry=r).labels(**labels)
        self.mqtt = Gauge("stopsafe_mqtt_connected", "1 while connected to the broker "
                          "(0 also when MQTT is off)", ("stop",), registry=r).labels(**labels)
        self.outbox.set(0)
        self.mqtt.set(0)
        self._stop = stop_id
        self._stages: dict[str, Any] = {}  # stage -> its histogram child (looked up once)
        self._last: tuple[float, bool] | None = None  # (t, light) of the previous record

    def bind_mqtt(self, service: Any) -> None:
        """Read the link's outbox depth and connection at each scrape."""
        self.outbox.set_function(lambda: len(service.link.outbox))
        self.mqtt.set_function(lambda: 1.0 if service.link.connected else 0.0)

    def observe(self, r: Cycle) -> None:
        """One cycle (in the server's thread, from the page's backlog)."""
        (self.frames if r.has_frame else self.blind).inc()
        if r.invokes:
            self.model_runs.inc(r.invokes)
        if r.detected:
            self.detected.inc()
        if r.switched:
            self.switches.inc()
        if self._last is not None and self._last[1] and r.t > self._last[0]:
            self.light_on_s.inc(r.t - self._last[0])
        self._last = (r.t, bool(r.light_on))
        for stage, ms in list(r.times_ms.items()):  # the frame thread adds "publish" late
            child = self._stages.get(stage)
            if child is None:
                child = self._stages[stage] = self.stage.labels(stop=self._stop, stage=stage)
            child.observe(ms / 1e3)
        self.light.set(1 if r.light_on else 0)
        self.waiting.set(r.state.waiting)
        self.occupancy.set(r.state.occupancy)

    def fault(self, event: FaultEvent) -> None:
        if event.active:
            self.faults.labels(stop=self._stop, fault=event.fault.value).inc()
        self.fault_active.labels(stop=self._stop, fault=event.fault.value).set(
            1 if event.active else 0)

    def text(self) -> bytes:
        return generate_latest(self.registry)
