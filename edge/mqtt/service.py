"""The pipeline's MQTT sink: stop records and fault events in; retained states, events and
telemetry out, and the commands' answers.

It only forwards: the events are the controller's and the fault registry's, ``light/state`` is
the relay's read-back, the daily counters count what the record says was done. ``on_record`` and
``on_fault`` run in the thread that made them (the frame thread, or the link's for its own
faults) and only compare a few values and put messages on a queue; they never wait for the
broker. Everything else runs in the link's thread (``tick``,
``on_message``, ``on_connected``), driven by a ``LinkRunner``.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any

import numpy as np
import paho.mqtt
import psutil
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from detector.backend import RuntimeInfo
from edge import __version__
from edge.config import Config, ConfigError
from edge.decision.bus_figures import bus_figures
from edge.decision.events import BusArrived, WaitingStarted
from edge.decision.light_rules import LightMode
from edge.mqtt.commands import CommandFailed, CommandHandler, Pending
from edge.mqtt.control import Control
from edge.mqtt.discovery import (
    MIGRATE_PAYLOAD,
    announce_delay_s,
    discovery_configs,
    dumps,
    ha_status_topic,
    is_own_config,
    is_own_config_topic,
    own_filters,
    parse_config,
    read_board,
    unique_ids,
)
from edge.mqtt.link import Link, LinkRunner, LinkSettings
from edge.mqtt.outbox import MEMORY, Outbox, OutboxHealth, default_outbox_path
from edge.pictures import snapshot_jpeg
from edge.runtime.faults import Fault, FaultEvent, FaultRegistry, fault_reasons
from edge.runtime.pipeline import StopRecord
from edge.runtime.reload import RunningConfig, Update
from edge.signal.waiting import WaitingSignal
from edge.wire import (
    Failure,
    Leaf,
    OnOff,
    Rejection,
    SelftestResult,
    State,
    Status,
    Topics,
    local_utc_offset_s,
    stop_day,
)

if TYPE_CHECKING:
    from edge.runtime.assembly import Stop

log = structlog.get_logger("stopsafe.mqtt")

USERNAME_ENV = "STOPSAFE_MQTT_USERNAME"
PASSWORD_ENV = "STOPSAFE_MQTT_PASSWORD"
CLOSE_GRACE_S = 2.0  # at a clean exit, time given to the outbox to drain
SELFTEST_WAIT_S = 5.0
# after a connect, the discovery configs wait this long, so that the broker's retained configs
# under this stop's id (another form, removed entities) are known and cleared in the same go
DISCOVERY_SETTLE_S = 1.0
STALE_BATCH_S = 0.2  # a stale config seen: the configs go out this soon (its siblings with it)
# room for a command's topic and MQTT 5 properties (response topic, correlation data) on top of
# mqtt.cmd_max_bytes, in the Maximum Packet Size the link asks the broker for
PACKET_OVERHEAD_BYTES = 4096
PYTHON_VERSION = platform.python_version()


def _json(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


class _Msg(str, Enum):
    STATE = "state"
    EVENT = "event"
    FAULT = "fault"
    FAULTS = "faults"  # the fault states again, from the registry as it is


def resolve_credentials(cfg: Config, env: Mapping[str, str], config_path: Path | None = None
                        ) -> tuple[str | None, str | None]:
    """User name and password from the config's file or the environment (never logged)."""
    m = cfg.mqtt
    user = m.username or env.get(USERNAME_ENV) or None
    password: str | None
    if m.password_file is not None:
        try:
            lines = m.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            where = config_path or "<config>"
            raise ConfigError(f"{where}: mqtt.password_file: cannot read {m.password_file}: "
                              f"{exc.strerror or exc}") from None
        password = lines[0] if lines else ""
    else:
        password = env.get(PASSWORD_ENV) or None
    return user, password


def link_settings(cfg: Config, topics: Topics, env: Mapping[str, str],
                  config_path: Path | None = None,
                  subscriptions: tuple[str, ...] = ()) -> LinkSettings:
    m = cfg.mqtt
    user, password = resolve_credentials(cfg, env, config_path)
    return LinkSettings(
        topics=topics, host=m.host, port=m.port, keepalive_s=m.keepalive_s,
        protocol=m.protocol, client_id=m.client_id or f"stopsafe-{cfg.stop.id}",
        username=user, password=password, tls=m.tls, reconnect_min_s=m.reconnect_min_s,
        reconnect_max_s=m.reconnect_max_s, subscriptions=subscriptions,
        max_packet_bytes=m.cmd_max_bytes + PACKET_OVERHEAD_BYTES,
    )


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
    """Counters the frame thread updates and telemetry reads (under the service's lock)."""

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


class MqttService:
    """One stop on the broker. A pipeline ``Sink``; see the module's doc for the threads."""

    def __init__(self, cfg: Config, *, runner: LinkRunner | None = None,
                 config_path: Path | None = None, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None) -> None:
        import random

        m = cfg.mqtt
        self.running = RunningConfig(cfg)  # the stop's own, once bound to one
        self.clock = clock
        self.topics = Topics(m.prefix, cfg.stop.id)
        subs = (self.topics.cmd_filter,)
        if m.discovery:
            subs += (ha_status_topic(m.discovery_prefix), *own_filters(m.discovery_prefix,
                                                                      cfg.stop.id))
        settings = link_settings(cfg, self.topics, os.environ if env is None else env,
                                 config_path, subs)
        path = m.outbox.path or default_outbox_path(cfg.stop.id)
        # the outbox's faults go to the daemon's fault registry once the pipeline is bound;
        # until then they wait here (the outbox is opened before the pipeline exists)
        self.faults: FaultRegistry | None = None  # the stop's, once bound to a pipeline
        self._early_faults: dict[Fault, tuple[bool, dict[str, Any]]] = {}
        # an outbox that cannot use its disk falls back to memory with a fault: the light
        # never waits on the maintenance link (no exit 78 for a full disk or a corrupt file)
        outbox = Outbox(path, m.outbox.max_events, m.outbox.drop, on_health=self._outbox_health,
                        memory_max_events=m.outbox.memory_max_events)
        self.handler = CommandHandler(m.cmd_max_bytes, m.cmd_rate_per_s, m.cmd_burst,
                                      cfg.privacy.snapshots)
        self.link = Link(settings, outbox, self, random.Random(seed))
        self.control: Control | None = None
        self.started = clock()
        self._started_iso = _now_iso()  # telemetry's "started": Home Assistant's uptime
        self._q: SimpleQueue[tuple[Any, ...]] = SimpleQueue()
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._last_record: StopRecord | None = None  # the last one with a frame
        self._published: dict[State, str] = {}  # frame thread's view of what it queued
        self._pending: list[tuple[Pending, Any]] = []
        self._clearing: set[str] = set()  # (MQTT 3.1.1) retained commands we have cleared
        self._jobs: list[Callable[[float], bool]] = []
        self._next_tele = 0.0
        self._discovery: dict[str, str] = {}  # config topic -> payload (empty: discovery off)
        if m.discovery:
            self._discovery = {t: dumps(p) for t, p in discovery_configs(
                self.topics, m.discovery_prefix, cfg.stop.name, form=m.discovery_form,
                telemetry_s=m.telemetry_s, board=read_board(),
                configuration_url=m.configuration_url, support_url=m.support_url,
                snapshots=cfg.privacy.snapshots).items()}
        self._discovery_uids = set().union(*(unique_ids(json.loads(p))
                                             for p in self._discovery.values()))
        self._announce_at: float | None = None  # when the discovery configs go out next
        self._stale: dict[str, bool] = {}  # retained config topic not ours now -> migrate first
        self._tele_at = clock()
        self._closed = False
        self.end_status = Status.STOPPED  # the retained status a close leaves (FAILED: an error)
        self._versions = {
            "stopsafe": __version__, "model": cfg.detector.model,
            "backend": cfg.detector.backend.value, "paho_mqtt": paho.mqtt.__version__,
            "python": PYTHON_VERSION,
        }
        self._waiting = WaitingSignal(cfg.stop.id)
        for state, value in ((State.LIGHT, OnOff.OFF.value), (State.LIGHT_MODE, "AUTO"),
                             (State.OCCUPANCY, OnOff.OFF.value), (State.WAITING, "0"),
                             (State.FAULTS, "[]"), (State.FAULT_DETAIL, "{}"),
                             (State.WAITING_JSON, _json(self._waiting.initial()))):
            self.link.retained[self.topics.leaf(state)] = value  # the relay starts off
            self._published[state] = value
        self._own_runner = runner is None
        self.runner = runner or LinkRunner(name=f"mqtt-{cfg.stop.id}")
        self.runner.add(self.link)
        if self._own_runner:
            self.runner.start()
        log.info("mqtt_started", host=m.host, port=m.port, root=self.topics.root,
                 tls=m.tls.enabled, protocol=m.protocol.value, outbox=str(path),
                 events_queued=len(outbox))

    @property
    def cfg(self) -> Config:
        return self.running.cfg

    # ---------------- frame thread ----------------
    def reloaded(self, cfg: Config, updates: frozenset[Update]) -> None:
        """The stop took a new config: what this service derived from it follows (the link's
        own settings, the mqtt section, need a restart and do not change)."""
        if Update.COMMANDS in updates:
            self.handler.snapshots = cfg.privacy.snapshots
        if Update.DETECTOR in updates:
            self._versions["model"] = cfg.detector.model

    def attach(self, control: Control) -> None:
        """Commands that act on the pipeline are refused (``not_ready``) until this."""
        self.control = control
        self.handler.actions = self

    def last_record(self) -> StopRecord | None:
        return self._last_record

    def on_record(self, record: StopRecord) -> None:
        stop = record.state
        t = record.t
        light_on = bool(record.light_on)
        now = self.clock()
        wall = record.frame.wall if record.frame is not None else None
        day = stop_day(wall or datetime.now())
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
        signal = self._waiting.update(stop, wall or datetime.now())
        for state, value in ((State.LIGHT, OnOff.of(light_on).value),
                             (State.LIGHT_MODE, stop.mode.value),
                             (State.OCCUPANCY, OnOff.of(stop.occupied).value),
                             (State.WAITING, str(stop.waiting)),
                             (State.IN_SERVICE, OnOff.of(stop.in_service).value),
                             *(((State.WAITING_JSON, _json(signal)),) if signal else ())):
            if self._published.get(state) != value:
                self._published[state] = value
                self._q.put((_Msg.STATE, state, value))
        for event in record.events:
            if event.kind is not None:
                self._q.put((_Msg.EVENT, {**event.payload(), "ts": _now_iso()}))
        if any(event.kind is not None for event in record.events):
            self._drain_soon()

    def on_fault(self, event: FaultEvent) -> None:
        """A fault raised or cleared in the stop's registry (logged there, not here)."""
        with self._lock:
            t = self._stats.last_t
        self._q.put((_Msg.FAULT, event, {**event.payload(t), "ts": _now_iso()}))
        self._drain_soon()

    def publish_event(self, payload: dict[str, Any]) -> None:
        """An event of the daemon's own (``started``) into the outbox, like the pipeline's."""
        self._q.put((_Msg.EVENT, {**payload, "ts": _now_iso()}))
        self._drain_soon()

    def _drain_soon(self) -> None:
        """Into the outbox (on disk) now, not at the link's next tick: an event still in the
        hand-off when the process is killed would never get a seq."""
        self.runner.call(lambda: self._drain(self.clock()))

    def describe_runtime(self, info: RuntimeInfo) -> None:
        """Telemetry's versions name what runs the model (back-end, runtime with version,
        provider): known once the detector is built, after the link started."""
        self._versions.update(backend=info.backend, runtime=info.runtime, provider=info.provider)

    @property
    def versions(self) -> dict[str, str]:
        """The versions telemetry carries."""
        return dict(self._versions)

    def close(self) -> None:
        """Clean exit: last states, ``status`` ``stopped``, outbox drained (briefly), no will.

        On a runner of its own it waits for that; on a shared one (fleet-sim's) it only begins
        it, and the runner's owner waits for every link's ``closed`` at once."""
        if self._closed:
            return
        self._closed = True
        # the pipeline has switched the light off and sent its last record before this

        def _close() -> None:
            self._drain(self.clock())
            self.link.begin_close(self.end_status.value, CLOSE_GRACE_S, time.monotonic())

        self.runner.call(_close)
        if not self._own_runner:
            return
        if not self.link.closed.wait(CLOSE_GRACE_S + 3.0):
            log.warning("mqtt_close_timeout", stop_id=self.cfg.stop.id)
        self.runner.stop()
        self.runner.join(timeout=2.0)
        log.info("mqtt_stopped", events_left=len(self.link.outbox) if not
                 self.link.closed.is_set() else None)

    # ---------------- link thread ----------------
    def on_connected(self, link: Link) -> None:
        if self._discovery:
            self._announce(self.clock() + DISCOVERY_SETTLE_S)
        # the first telemetry soon, but not at the same moment as every other stop that comes
        # back with the broker
        self._next_tele = self.clock() + link.rng.uniform(0.0, min(5.0, self.cfg.mqtt.telemetry_s))

    def on_message(self, link: Link, msg: Any) -> None:
        m = self.cfg.mqtt
        if m.discovery and msg.topic == ha_status_topic(m.discovery_prefix):
            if msg.payload == Status.ONLINE.value.encode():
                delay = announce_delay_s(self.cfg.stop.id, m.discovery_delay_max_s)
                log.info("ha_online_resend_discovery", in_s=round(delay, 2))
                self._announce(self.clock() + delay)
            return
        if m.discovery and is_own_config_topic(m.discovery_prefix, self.cfg.stop.id, msg.topic):
            self._check_retained_config(msg)
            return
        name = self.topics.command_name(msg.topic)
        if name is None:
            self.handler.rejected[Rejection.NOT_A_COMMAND.value] += 1
            return
        props = getattr(msg, "properties", None)
        if msg.retain:
            self._refuse_retained(name, msg, props)
            return
        if msg.topic in self._clearing and not msg.payload:
            # MQTT 3.1.1 has no 'no local': the broker echoes our own clearing message to us
            self._clearing.discard(msg.topic)
            return
        result = self.handler.handle(name, bytes(msg.payload), self.clock())
        if isinstance(result, Pending):
            self._pending.append((result, props))
        else:
            self._answer(name, result, props)

    def _refuse_retained(self, name: str, msg: Any, props: Any) -> None:
        """Answer a retained command with the ``retained`` error and clear it on the broker (an
        empty retained message deletes it; the example ACL lets a stop write below its own
        root). An empty retained payload is the broker's record of such a clearing: ignored."""
        if not msg.payload:
            return
        self._answer(name, self.handler.refuse_retained(name), props)
        if not self.link.mqtt5:
            self._clearing.add(msg.topic)
        self.link.publish(msg.topic, b"", qos=1, retain=True)

    def tick(self, link: Link, now: float) -> None:
        self._drain(now)
        self._check_camera(now)
        if self._pending:
            still = []
            for p, props in self._pending:
                ans = self.handler.finish(p, now)
                if ans is None:
                    still.append((p, props))
                else:
                    self._answer(p.name, ans, props)
            self._pending = still
        if self._jobs:
            self._jobs = [job for job in self._jobs if not job(now)]
        if self._announce_at is not None and now >= self._announce_at and link.connected:
            self._announce_at = None
            self._publish_discovery()
        if link.connected and now >= self._next_tele:
            self._next_tele = now + self.cfg.mqtt.telemetry_s
            link.publish(self.topics.tele, json.dumps(self.telemetry(now),
                                                      separators=(",", ":")))

    def _drain(self, now: float) -> None:
        while True:
            try:
                item = self._q.get_nowait()
            except Empty:
                return
            kind = item[0]
            if kind is _Msg.STATE:
                self.link.set_retained(self.topics.leaf(item[1]), item[2])
            elif kind is _Msg.EVENT:
                self.link.add_event(item[1])
            elif kind is _Msg.FAULT:
                event: FaultEvent = item[1]
                self._set_fault_states(event.active_now)
                self.link.add_event(item[2])
            elif kind is _Msg.FAULTS:
                self._set_fault_states(self.active_faults())

    def _set_fault_states(self, active: frozenset[Fault]) -> None:
        """``faults/state`` (the names as of the event) and ``faults/detail`` (each active fault
        with since when and why, from the registry), in the link thread."""
        self.link.set_retained(self.topics.leaf(State.FAULTS), _fault_list(active))
        self._set_fault_detail()

    def active_faults(self) -> frozenset[Fault]:
        return frozenset() if self.faults is None else frozenset(self.faults.active())

    def _outbox_health(self, health: OutboxHealth, active: bool, detail: dict[str, Any]
                       ) -> None:
        fault = Fault.OUTBOX_CORRUPT if health is OutboxHealth.CORRUPT else Fault.OUTBOX_FAILED
        if self.faults is None:
            self._early_faults[fault] = (active, detail)
            if not active:
                self._early_faults.pop(fault, None)
        else:
            self.faults.set(fault, active, **detail)

    def bind_faults(self, registry: FaultRegistry) -> None:
        """Raise the outbox's and the link's faults in the stop's registry (and those from
        before now)."""
        self.faults = registry
        early, self._early_faults = self._early_faults, {}
        for fault, (active, detail) in early.items():
            registry.set(fault, active, **detail)
        # and those already active in it, which reached no on_fault here: the retained list goes
        # through the link's thread like every change (set there directly, it raced the replay
        # above, whose publish then saw nothing new and never went out)
        self._q.put((_Msg.FAULTS,))
        self._drain_soon()

    def _set_fault_detail(self) -> None:
        """``faults/detail``: every active fault with since when and why (link thread)."""
        detail = {} if self.faults is None else fault_reasons(self.faults.active())
        self.link.set_retained(self.topics.leaf(State.FAULT_DETAIL),
                               json.dumps(detail, separators=(",", ":"), default=str))

    def frame_age_s(self, now: float) -> float | None:
        with self._lock:
            last = self._stats.last_frame_at
        return None if last is None else max(0.0, now - last)

    def _check_camera(self, now: float) -> None:
        """No frame for ``camera_stale_s``: the frame loop itself may be stuck, so this is the
        link's own fault (raised in the stop's registry like every other)."""
        if self.faults is None:
            return
        age = self.frame_age_s(now)
        waited = now - self.started if age is None else age
        self.faults.set(Fault.CAMERA_STALE, waited > self.cfg.mqtt.camera_stale_s)

    def _answer(self, name: str, body: dict[str, Any], props: Any) -> None:
        payload = json.dumps(body, separators=(",", ":"), default=str)
        out_props = None
        corr = getattr(props, "CorrelationData", None) if props is not None else None
        if self.link.mqtt5 and corr is not None:
            out_props = Properties(PacketTypes.PUBLISH)
            out_props.CorrelationData = corr
        topic = self.topics.result(name)
        self.link.publish(topic, payload, qos=1, properties=out_props)
        resp = getattr(props, "ResponseTopic", None) if props is not None else None
        # only below its own root: a stop never writes anywhere else (and its ACL forbids it)
        if (self.link.mqtt5 and isinstance(resp, str) and resp != topic
                and resp.startswith(self.topics.root + "/") and not set(resp) & {"+", "#"}):
            self.link.publish(resp, payload, qos=1, properties=out_props)

    def _announce(self, at: float) -> None:
        """Send the discovery configs at ``at`` (from ``tick``), or earlier if already due."""
        if self._announce_at is None or at < self._announce_at:
            self._announce_at = at

    def _check_retained_config(self, msg: Any) -> None:
        """A config under this stop's id that the broker kept: stale unless it is ours now.

        Only retained copies count (what was there before this connection); the live copies
        of the stop's own publications that come back are ignored. (MQTT 5's 'no local' would
        save those, but a broker may then also withhold the retained configs the stop's
        previous run published under the same client id, which are the ones to find.)
        """
        if not msg.retain or msg.topic in self._discovery:
            return
        old = parse_config(bytes(msg.payload))
        if old is None:
            return
        if not is_own_config(old, self.cfg.stop.id):  # another integration's: never ours to clear
            log.info("discovery_foreign_config_kept", topic=msg.topic[:200])
            return
        self._stale[msg.topic] = bool(unique_ids(old) & self._discovery_uids)
        self._announce(self.clock() + STALE_BATCH_S)

    def _publish_discovery(self) -> None:
        """The stop's configs; stale ones are cleared after them, those whose entities live on
        in the new configs told to migrate first (Home Assistant then keeps the entities'
        settings and history instead of deleting and re-creating them)."""
        if not self._discovery:
            return
        stale, self._stale = self._stale, {}
        for topic, migrate in stale.items():
            if migrate:
                self.link.publish(topic, MIGRATE_PAYLOAD, qos=1)
        for topic, payload in self._discovery.items():
            self.link.publish(topic, payload, qos=1, retain=True)
        for topic in stale:
            self.link.publish(topic, "", qos=1, retain=True)
        if stale:
            log.info("discovery_stale_cleared", topics=sorted(stale),
                     migrated=sorted(t for t, mig in stale.items() if mig))

    def telemetry(self, now: float) -> dict[str, Any]:
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
        stale = age is None or age > self.cfg.mqtt.camera_stale_s
        proc = psutil.Process()
        p50 = p95 = None
        runs = len(samples)
        if samples:
            p50, p95 = (round(float(x), 2) for x in np.percentile(samples, [50, 95]))
        return {
            "stop_id": self.cfg.stop.id,
            "ts": _now_iso(),
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
            "commands": self.handler.counters(),
            "events": {"queued": len(self.link.outbox), "dropped": self.link.outbox.dropped},
            "mqtt": {"connects": self.link.connects},
            "faults": sorted(f.value for f in self.active_faults()),
        }

    # ---------------- Actions (for the command handler, link thread) ----------------
    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        assert self.control is not None
        self.control.request_mode(mode, for_s)

    def reload(self) -> Future[dict[str, Any]]:
        assert self.control is not None
        return self.control.reload()

    def republish(self) -> None:
        self.link.publish(self.topics.status, Status.ONLINE.value, qos=1, retain=True)
        self.link.republish()
        self._publish_discovery()

    def selftest(self) -> Future[dict[str, Any]]:
        assert self.control is not None
        outer: Future[dict[str, Any]] = Future()
        outer.set_running_or_notify_cancel()
        t0 = time.monotonic()
        frame_part = self.control.selftest_frame()
        rtt: dict[str, Any] = {}

        def acked(ok: bool) -> None:
            rtt.update(ok=ok, rtt_ms=round((time.monotonic() - t0) * 1e3, 1))

        sent = self.link.publish(self.topics.leaf(Leaf.SELFTEST),
                                 json.dumps({"ts": _now_iso()}), qos=1, on_ack=acked)
        age = self.frame_age_s(self.clock())

        def job(now: float) -> bool:
            if outer.done():
                return True
            waiting = not frame_part.done() or (sent and not rtt)
            if waiting and time.monotonic() - t0 < SELFTEST_WAIT_S:
                return False
            checks: dict[str, Any] = {}
            if frame_part.done() and frame_part.exception() is None:
                checks.update(frame_part.result())
            else:
                checks["relay"] = {"ok": False, "error": "frame thread did not answer"}
                checks["model"] = {"ok": False, "error": "frame thread did not answer"}
            checks["camera"] = {"ok": age is not None and age <= self.cfg.mqtt.camera_stale_s,
                                "frame_age_s": None if age is None else round(age, 2)}
            checks["broker"] = rtt if rtt else {"ok": False, "error": "no PUBACK"}
            failed = [k for k, v in checks.items() if not v.get("ok")]
            self.link.set_retained(self.topics.leaf(State.SELFTEST), json.dumps({
                "result": (SelftestResult.FAILED if failed else SelftestResult.PASSED).value,
                "at": _now_iso(), "failed": failed}, separators=(",", ":")))
            if failed:
                outer.set_exception(CommandFailed(Failure.SELFTEST_FAILED,
                                                  "failed: " + ", ".join(failed), checks=checks))
            else:
                outer.set_result({"checks": checks})
            return True

        self._jobs.append(job)
        return outer

    def snapshot(self) -> Future[dict[str, Any]]:
        assert self.control is not None
        outer: Future[dict[str, Any]] = Future()
        outer.set_running_or_notify_cancel()
        part = self.control.snapshot_frame()

        def job(now: float) -> bool:
            if outer.done():
                return True
            if not part.done():
                return False
            exc = part.exception()
            if exc is not None:
                outer.set_exception(exc)
                return True
            image, boxes = part.result()
            try:
                jpeg = snapshot_jpeg(image, boxes)
            except Exception as e:  # encoding problems are answered, not raised
                outer.set_exception(e)
                return True
            topic = self.topics.leaf(Leaf.SNAPSHOT)
            if not self.link.publish(topic, jpeg, qos=1):
                outer.set_exception(CommandFailed(Failure.FAILED, "not connected"))
            else:
                outer.set_result({"topic": topic, "bytes": len(jpeg),
                                  "people_blurred": len(boxes)})
            return True

        self._jobs.append(job)
        return outer


def _fault_list(faults: frozenset[Fault]) -> str:
    return json.dumps(sorted(f.value for f in faults))


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def memory_outbox(cfg: Config) -> Config:
    """``cfg`` with an in-memory outbox (fleet-sim's fake stops keep nothing on disk)."""
    out = cfg.model_copy(deep=True)
    out.mqtt.outbox.path = Path(MEMORY)
    return out


def start_mqtt(cfg: Config, config_path: Path | None = None) -> MqttService | None:
    """The MQTT sink when ``mqtt.enabled`` (connecting in its own thread), else None.

    Called before any pin or camera is touched: an unreadable password file or outbox path is a
    config error (exit 78) like any other.
    """
    if not cfg.mqtt.enabled:
        return None
    return MqttService(cfg, config_path=config_path)


def bind_pipeline(service: MqttService, stop: Stop, loader: Callable[[], Config] | None
                  ) -> Control:
    """Let commands act on ``stop``; ``loader`` re-reads the config for ``reload``. From here on
    the service reads the stop's running config (one owner; a reload replaces it for both), and
    the control is returned for the daemon's SIGHUP, so both reloads take the same path."""
    from edge.mqtt.control import PipelineControl

    service.running = stop.running
    stop.running.subscribe(service.reloaded)
    control = PipelineControl(stop, loader, service.last_record)
    service.attach(control)
    service.bind_faults(stop.pipeline.faults)
    return control
