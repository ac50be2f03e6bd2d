"""The state publisher: the stop's retained states and its telemetry, from its records.

It only forwards: ``light/state`` is the relay's read-back, the events are the controller's
and the fault registry's, the daily counters count what the records say was done. ``on_record``
and ``on_fault`` run in the thread that made them (the frame thread, or whichever raised the
fault) and only compare a few values and hand messages to the :class:`OutboxDrain`; telemetry
is made and published in the link's thread (``tick``).
"""

from __future__ import annotations

import json
import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import paho.mqtt
import psutil

from detector.backend import RuntimeInfo
from edge import __version__
from edge.bus_figures import bus_figures
from edge.config import Config
from edge.decision.events import BusArrived, WaitingStarted
from edge.mqtt.drain import OutboxDrain
from edge.mqtt.link import Link
from edge.runtime.faults import FaultEvent
from edge.runtime.pipeline import StopRecord
from edge.signal.waiting import WaitingSignal
from edge.wire import Fault, OnOff, State, Topics, local_utc_offset_s, stop_day

PYTHON_VERSION = platform.python_version()
# what the retained states are before the first record: the relay starts off
INITIAL_STATES: dict[State, str] = {
    State.LIGHT: OnOff.OFF.value, State.LIGHT_MODE: "AUTO", State.OCCUPANCY: OnOff.OFF.value,
    State.WAITING: "0", State.FAULTS: "[]", State.FAULT_DETAIL: "{}",
}


def _json(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


def now_iso() -> str:
    """The wall clock (UTC, ms) that events, answers and telemetry carry as ``ts``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _cpu_temp_c() -> float | None:
    """The SoC's temperature where the board reports one (Raspberry Pi: cpu_thermal)."""
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    try:
        temps = reader()
    except OSError:
        return None
    for name in ("cpu_thermal", "coretemp", "k10temp", "soc_thermal", "cpu-thermal"):
        if temps.get(name):
            return round(temps[name][0].current, 1)
    for entries in temps.values():
        if entries:
            return round(entries[0].current, 1)
    return None


@dataclass
class _Stats:
    """Counters the frame thread updates and telemetry reads (under the publisher's lock)."""

    day: date | None = None
    frames: int = 0
    invoke_ms: list[float] = field(default_factory=list)
    last_frame_at: float | None = None
    last_t: float | None = None
    prev_light: bool = False
    light_on_s_today: float = 0.0
    lights_switched_today: int = 0
    episodes_today: int = 0
    buses_today: list[dict[str, Any]] = field(default_factory=list)  # bus event payloads


class StatePublisher:
    """Retained states, events and telemetry of one stop (see the module's doc for threads).

    ``config`` is asked each time (the stop's running config: a reload replaces it);
    ``commands`` and ``active_faults`` are what telemetry reports of the command handler and
    of the stop's faults."""

    def __init__(self, config: Callable[[], Config], link: Link, topics: Topics,
                 drain: OutboxDrain, clock: Callable[[], float], *, started: float,
                 commands: Callable[[], dict[str, Any]],
                 active_faults: Callable[[], frozenset[Fault]]) -> None:
        cfg = config()
        self.config = config
        self.link = link
        self.topics = topics
        self.drain = drain
        self.clock = clock
        self.commands = commands
        self.active_faults = active_faults
        self.started = started  # uptime counts from here
        self._started_iso = now_iso()  # telemetry's "started": Home Assistant's uptime
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._last_record: StopRecord | None = None  # the last one with a frame
        self._published: dict[State, str] = {}  # frame thread's view of what it queued
        self._next_tele = 0.0
        self._tele_at = clock()
        self._versions = {
            "stopsafe": __version__, "model": cfg.detector.model,
            "backend": cfg.detector.backend.value, "paho_mqtt": paho.mqtt.__version__,
            "python": PYTHON_VERSION,
        }
        self._waiting = WaitingSignal(cfg.stop.id)
        initial = {**INITIAL_STATES, State.WAITING_JSON: _json(self._waiting.initial())}
        for state, value in initial.items():
            self.link.retained[self.topics.leaf(state)] = value
            self._published[state] = value

    # ---------------- frame thread ----------------
    def last_record(self) -> StopRecord | None:
        """The last record with a frame (the self-test's and the snapshot's picture)."""
        return self._last_record

    def on_record(self, record: StopRecord) -> None:
        stop = record.state
        t = record.t
        light_on = bool(record.light_on)
        now = self.clock()
        wall = (record.frame.wall if record.frame is not None else None) or datetime.now()
        day = stop_day(wall)
        with self._lock:
            st = self._stats
            if st.day != day:
                st.day, st.light_on_s_today = day, 0.0
                st.lights_switched_today = st.episodes_today = 0
                st.buses_today = []
            if st.prev_light and st.last_t is not None and t > st.last_t:
                st.light_on_s_today += t - st.last_t
            st.prev_light, st.last_t = light_on, t
            if record.frame is not None:
                st.frames += 1
                st.last_frame_at = now
            if record.detected:  # the adaptive rate may skip the detector
                st.invoke_ms.append(record.times_ms.get("invoke", 0.0))
            if record.switched and record.light_set:  # the relay was switched on
                st.lights_switched_today += 1
            st.episodes_today += sum(isinstance(e, WaitingStarted) for e in record.events)
            st.buses_today += [e.payload() for e in record.events if isinstance(e, BusArrived)]
        if record.frame is not None:
            self._last_record = record
        signal = self._waiting.update(stop, wall)
        for state, value in ((State.LIGHT, OnOff.of(light_on).value),
                             (State.LIGHT_MODE, stop.mode.value),
                             (State.OCCUPANCY, OnOff.of(stop.occupied).value),
                             (State.WAITING, str(stop.waiting)),
                             (State.IN_SERVICE, OnOff.of(stop.in_service).value),
                             *(((State.WAITING_JSON, _json(signal)),) if signal else ())):
            if self._published.get(state) != value:
                self._published[state] = value
                self.drain.state(state, value)
        for event in record.events:
            if event.kind is not None:
                self.drain.event({**event.payload(), "ts": now_iso()})
        if any(event.kind is not None for event in record.events):
            self.drain.drain_soon()

    def on_fault(self, event: FaultEvent) -> None:
        """A fault raised or cleared in the stop's registry (logged there, not here)."""
        with self._lock:
            t = self._stats.last_t
        self.drain.fault(event.active_now, {**event.payload(t), "ts": now_iso()})
        self.drain.drain_soon()

    def publish_event(self, payload: dict[str, Any]) -> None:
        """An event of the daemon's own (``started``) into the outbox, like the pipeline's."""
        self.drain.event({**payload, "ts": now_iso()})
        self.drain.drain_soon()

    def describe_runtime(self, info: RuntimeInfo) -> None:
        """Telemetry's versions name what runs the model (back-end, runtime with version,
        provider): known once the detector is built, after the link started."""
        self._versions.update(backend=info.backend, runtime=info.runtime, provider=info.provider)

    def model_changed(self, model: str) -> None:
        """A reload swapped the detector's model file."""
        self._versions["model"] = model

    @property
    def versions(self) -> dict[str, str]:
        """The versions telemetry carries."""
        return dict(self._versions)

    # ---------------- any thread ----------------
    def frame_age_s(self, now: float) -> float | None:
        """Seconds since the last frame (None: none yet)."""
        with self._lock:
            last = self._stats.last_frame_at
        return None if last is None else max(0.0, now - last)

    # ---------------- link thread ----------------
    def on_connected(self, link: Link) -> None:
        """The first telemetry soon, but not at the same moment as every other stop that comes
        back with the broker."""
        self._next_tele = self.clock() + link.rng.uniform(
            0.0, min(5.0, self.config().mqtt.telemetry_s))

    def tick(self, link: Link, now: float) -> None:
        """Telemetry, every ``mqtt.telemetry_s`` while connected."""
        if link.connected and now >= self._next_tele:
            self._next_tele = now + self.config().mqtt.telemetry_s
            link.publish(self.topics.tele, _json(self.telemetry(now)))

    def telemetry(self, now: float) -> dict[str, Any]:
        cfg = self.config()
        with self._lock:
            st = self._stats
            frames, samples = st.frames, st.invoke_ms
            st.frames, st.invoke_ms = 0, []
            on_s, switched, episodes = (st.light_on_s_today, st.lights_switched_today,
                                        st.episodes_today)
            buses = bus_figures(st.buses_today)
        elapsed = max(1e-6, now - self._tele_at)
        self._tele_at = now
        age = self.frame_age_s(now)
        stale = age is None or age > cfg.mqtt.camera_stale_s
        proc = psutil.Process()
        p50 = p95 = None
        runs = len(samples)
        if samples:
            p50, p95 = (round(float(x), 2) for x in np.percentile(samples, [50, 95]))
        return {
            "stop_id": cfg.stop.id,
            "ts": now_iso(),
            "uptime_s": round(now - self.started, 1),
            "started": self._started_iso,
            "fps": round(frames / elapsed, 2),
            "detector_fps": round(runs / elapsed, 2),  # the adaptive rate, as it came out
            "inference_ms": {"p50": p50, "p95": p95},
            "frame_age_s": None if age is None else round(age, 2),
            "camera": "waiting" if age is None else ("stale" if stale else "ok"),
            "light": {"on": self._published.get(State.LIGHT) == OnOff.ON.value,
                      "mode": self._published.get(State.LIGHT_MODE),
                      "on_s_today": round(on_s, 1), "switched_on_today": switched},
            "waiting_episodes_today": episodes,
            "buses_today": buses,
            "utc_offset_s": local_utc_offset_s(),  # where the stop's "today" begins
            "cpu_temp_c": _cpu_temp_c(),
            "memory": {"rss_mb": round(proc.memory_info().rss / 2**20, 1),
                       "system_used_pct": psutil.virtual_memory().percent},
            "versions": self._versions,
            "commands": self.commands(),
            "events": {"queued": len(self.link.outbox), "dropped": self.link.outbox.dropped},
            "mqtt": {"connects": self.link.connects},
            "faults": sorted(f.value for f in self.active_faults()),
        }
