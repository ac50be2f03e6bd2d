"""One stop on the broker: the maintenance link's units put together, and the pipeline's sink.

The units, each in its own module and constructible alone:

- :class:`~edge.mqtt.link.Link` (and its ``LinkRunner`` thread): the connection, the retained
  values and the outbox on disk;
- :class:`~edge.mqtt.drain.OutboxDrain`: what other threads hand the link, drained in its thread;
- :class:`~edge.mqtt.state.StatePublisher`: retained states, events and telemetry from records;
- :class:`~edge.mqtt.responder.CommandResponder`: commands in, answers out (the MQTT face's
  :class:`~edge.runtime.control.Control` over the stop's);
- :class:`~edge.mqtt.announcer.DiscoveryAnnouncer`: Home Assistant's discovery configs;
- :class:`~edge.mqtt.link_faults.LinkFaults`: the link's own faults, reported to the stop.

:class:`MqttService` owns one of each, is the pipeline's ``Sink`` (``on_record``, ``on_fault``
and ``close`` run in the frame thread and never wait for the broker) and the link's owner
(``on_connected``, ``on_message`` and ``tick`` run in the link's thread) that routes to them.
Binding it to a stop is the composition layer's (:func:`edge.app.compose.bind_mqtt`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from detector.backend import RuntimeInfo
from edge.config import Config
from edge.mqtt.announcer import DiscoveryAnnouncer, discovery_subscriptions
from edge.mqtt.client import resolve_credentials
from edge.mqtt.commands import CommandHandler
from edge.mqtt.drain import OutboxDrain
from edge.mqtt.link import Link, LinkRunner, LinkSettings
from edge.mqtt.link_faults import LinkFaults
from edge.mqtt.responder import CommandResponder
from edge.mqtt.state import StatePublisher
from edge.runtime.control import Control
from edge.runtime.faults import ActiveFault, FaultEvent, FaultReport
from edge.runtime.outbox import MEMORY, Outbox, default_outbox_path
from edge.runtime.pipeline import StopRecord
from edge.runtime.reload import RunningConfig, Update
from edge.wire import Fault, Status, Topics

log = structlog.get_logger("stopsafe.mqtt")

CLOSE_GRACE_S = 2.0  # at a clean exit, time given to the outbox to drain
# room for a command's topic and MQTT 5 properties (response topic, correlation data) on top of
# mqtt.cmd_max_bytes, in the Maximum Packet Size the link asks the broker for
PACKET_OVERHEAD_BYTES = 4096


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


class MqttService:
    """One stop on the broker. A pipeline ``Sink``; see the module's doc for the units."""

    def __init__(self, cfg: Config, *, runner: LinkRunner | None = None,
                 config_path: Path | None = None, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None) -> None:
        m = cfg.mqtt
        self.running = RunningConfig(cfg)  # the stop's own, once bound to one
        self.topics = Topics(m.prefix, cfg.stop.id)
        subs = (self.topics.cmd_filter, *discovery_subscriptions(m, cfg.stop.id))
        settings = link_settings(cfg, self.topics, os.environ if env is None else env,
                                 config_path, subs)
        path = m.outbox.path or default_outbox_path(cfg.stop.id)
        started = clock()
        self.faults = LinkFaults(lambda: self.cfg.mqtt.camera_stale_s,
                                 lambda now: self.state.frame_age_s(now), started)
        # an outbox that cannot use its disk falls back to memory with a fault: the light
        # never waits on the maintenance link (no exit 78 for a full disk or a corrupt file)
        outbox = Outbox(path, m.outbox.max_events, m.outbox.drop,
                        on_health=self.faults.outbox_health,
                        memory_max_events=m.outbox.memory_max_events)
        self.handler = CommandHandler(m.cmd_max_bytes, m.cmd_rate_per_s, m.cmd_burst,
                                      cfg.privacy.snapshots)
        self.link = Link(settings, outbox, self, random.Random(seed))
        self._own_runner = runner is None
        self.runner = runner or LinkRunner(name=f"mqtt-{cfg.stop.id}")
        self.drain = OutboxDrain(self.link, self.topics, self.runner.call,
                                 active_faults=self.faults.active_detail)
        self.state = StatePublisher(lambda: self.cfg, self.link, self.topics, self.drain, clock,
                                    started=started, commands=self.handler.counters,
                                    active_faults=self.faults.active)
        self.announcer = DiscoveryAnnouncer(m, cfg.stop.id, cfg.stop.name, self.topics,
                                            self.link, clock, snapshots=cfg.privacy.snapshots)
        self.responder = CommandResponder(
            self.handler, self.link, self.topics, clock, frame_age_s=self.state.frame_age_s,
            camera_stale_s=lambda: self.cfg.mqtt.camera_stale_s, republish=self._say_again)
        self._closed = False
        self.end_status = Status.STOPPED  # the retained status a close leaves (FAILED: an error)
        self.runner.add(self.link)
        if self._own_runner:
            self.runner.start()
        log.info("mqtt_started", host=m.host, port=m.port, root=self.topics.root,
                 tls=m.tls.enabled, protocol=m.protocol.value, outbox=str(path),
                 events_queued=len(outbox))

    @property
    def cfg(self) -> Config:
        return self.running.cfg

    @property
    def control(self) -> Control | None:
        """The stop's control the commands act on (None until bound)."""
        return self.responder.control

    # ---------------- binding (the composition layer's) ----------------
    def attach(self, control: Control) -> None:
        """Commands that act on the stop are refused (``not_ready``) until this."""
        self.responder.attach(control)

    def bind_faults(self, report: FaultReport,
                    active: Callable[[], Mapping[Fault, ActiveFault]]) -> None:
        """Report the outbox's and the link's faults to the stop (and those from before now);
        ``active`` lists the stop's active faults."""
        self.faults.bind(report, active)
        # and those already active in it, which reached no on_fault here: the retained list goes
        # through the link's thread like every change (set there directly, it raced the replay
        # above, whose publish then saw nothing new and never went out)
        self.drain.faults_again()
        self.drain.drain_soon()

    def reloaded(self, cfg: Config, updates: frozenset[Update]) -> None:
        """The stop took a new config: what this service derived from it follows (the link's
        own settings, the mqtt section, need a restart and do not change)."""
        if Update.COMMANDS in updates:
            self.handler.snapshots = cfg.privacy.snapshots
        if Update.DETECTOR in updates:
            self.state.model_changed(cfg.detector.model)

    # ---------------- the pipeline's sink (frame thread) ----------------
    def on_record(self, record: StopRecord) -> None:
        self.state.on_record(record)

    def on_fault(self, event: FaultEvent) -> None:
        self.state.on_fault(event)

    def publish_event(self, payload: dict[str, Any]) -> None:
        """An event of the daemon's own (``started``) into the outbox."""
        self.state.publish_event(payload)

    def last_record(self) -> StopRecord | None:
        return self.state.last_record()

    def describe_runtime(self, info: RuntimeInfo) -> None:
        self.state.describe_runtime(info)

    @property
    def versions(self) -> dict[str, str]:
        return self.state.versions

    def republish(self) -> None:
        """Say every retained state again (any thread: done in the link's)."""
        self.runner.call(self._say_again)

    def close(self) -> None:
        """Clean exit: last states, ``status`` ``stopped``, outbox drained (briefly), no will.

        On a runner of its own it waits for that; on a shared one (fleet-sim's) it only begins
        it, and the runner's owner waits for every link's ``closed`` at once."""
        if self._closed:
            return
        self._closed = True
        # the pipeline has switched the light off and sent its last record before this

        def _close() -> None:
            self.drain.drain()
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

    # ---------------- the link's owner (link thread) ----------------
    def on_connected(self, link: Link) -> None:
        self.announcer.on_connected()
        self.state.on_connected(link)

    def on_message(self, link: Link, msg: Any) -> None:
        if self.announcer.on_message(msg):
            return
        name = self.topics.command_name(msg.topic)
        if name is None:
            self.responder.not_a_command()
            return
        self.responder.on_command(name, msg)

    def tick(self, link: Link, now: float) -> None:
        self.drain.drain()
        self.faults.check_camera(now)
        self.responder.tick(now)
        self.announcer.tick(link, now)
        self.state.tick(link, now)

    def telemetry(self, now: float) -> dict[str, Any]:
        return self.state.telemetry(now)

    def _say_again(self) -> None:
        """``status``: online, every retained state and the discovery configs again."""
        self.link.republish()
        self.announcer.publish()


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
