"""The discovery announcer: the stop's Home Assistant discovery configs on the broker.

The configs themselves are made in :mod:`edge.mqtt.discovery`; this unit decides when they go
out (a while after each connect, so the broker's retained configs under this stop's id are known
first; again when Home Assistant comes online, after a delay spread over the fleet) and clears
the stale ones: retained configs under this stop's id that are not its configs now (another
form, removed entities), told to migrate first when their entity lives on. Runs in the link's
thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from edge.config import MqttConfig
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
from edge.mqtt.link import Link
from edge.wire import Status, Topics

log = structlog.get_logger("stopsafe.mqtt")

# after a connect, the discovery configs wait this long, so that the broker's retained configs
# under this stop's id (another form, removed entities) are known and cleared in the same go
DISCOVERY_SETTLE_S = 1.0
STALE_BATCH_S = 0.2  # a stale config seen: the configs go out this soon (its siblings with it)


def discovery_subscriptions(m: MqttConfig, stop_id: str) -> tuple[str, ...]:
    """What the announcer listens to: Home Assistant's status and this stop's own config
    topics (nothing when discovery is off)."""
    if not m.discovery:
        return ()
    return (ha_status_topic(m.discovery_prefix), *own_filters(m.discovery_prefix, stop_id))


class DiscoveryAnnouncer:
    """Announces one stop's discovery configs (nothing at all when ``mqtt.discovery`` is off)."""

    def __init__(self, m: MqttConfig, stop_id: str, stop_name: str, topics: Topics, link: Link,
                 clock: Callable[[], float], *, snapshots: bool) -> None:
        self.m = m
        self.stop_id = stop_id
        self.link = link
        self.clock = clock
        made = discovery_configs(
            topics, m.discovery_prefix, stop_name, form=m.discovery_form,
            telemetry_s=m.telemetry_s, board=read_board(), configuration_url=m.configuration_url,
            support_url=m.support_url, snapshots=snapshots) if m.discovery else {}
        # config topic -> payload (empty: discovery off)
        self.configs: dict[str, str] = {t: dumps(p) for t, p in made.items()}
        self._uids = set().union(*(unique_ids(p) for p in made.values()))
        self._announce_at: float | None = None  # when the configs go out next
        self._stale: dict[str, bool] = {}  # retained config topic not ours now -> migrate first

    def on_connected(self) -> None:
        if self.configs:
            self._announce(self.clock() + DISCOVERY_SETTLE_S)

    def on_message(self, msg: Any) -> bool:
        """Home Assistant's status or a config under this stop's id: handled (True), else
        not this unit's message (False)."""
        m = self.m
        if not m.discovery:
            return False
        if msg.topic == ha_status_topic(m.discovery_prefix):
            if msg.payload == Status.ONLINE.value.encode():
                delay = announce_delay_s(self.stop_id, m.discovery_delay_max_s)
                log.info("ha_online_resend_discovery", in_s=round(delay, 2))
                self._announce(self.clock() + delay)
            return True
        if is_own_config_topic(m.discovery_prefix, self.stop_id, msg.topic):
            self._check_retained_config(msg)
            return True
        return False

    def tick(self, link: Link, now: float) -> None:
        if self._announce_at is not None and now >= self._announce_at and link.connected:
            self._announce_at = None
            self.publish()

    def _announce(self, at: float) -> None:
        """Send the configs at ``at`` (from ``tick``), or earlier if already due."""
        if self._announce_at is None or at < self._announce_at:
            self._announce_at = at

    def _check_retained_config(self, msg: Any) -> None:
        """A config under this stop's id that the broker kept: stale unless it is ours now.

        Only retained copies count (what was there before this connection); the live copies
        of the stop's own publications that come back are ignored. (MQTT 5's 'no local' would
        save those, but a broker may then also withhold the retained configs the stop's
        previous run published under the same client id, which are the ones to find.)
        """
        if not msg.retain or msg.topic in self.configs:
            return
        old = parse_config(bytes(msg.payload))
        if old is None:
            return
        if not is_own_config(old, self.stop_id):  # another integration's: never ours to clear
            log.info("discovery_foreign_config_kept", topic=msg.topic[:200])
            return
        self._stale[msg.topic] = bool(unique_ids(old) & self._uids)
        self._announce(self.clock() + STALE_BATCH_S)

    def publish(self) -> None:
        """The stop's configs; stale ones are cleared after them, those whose entities live on
        in the new configs told to migrate first (Home Assistant then keeps the entities'
        settings and history instead of deleting and re-creating them)."""
        if not self.configs:
            return
        stale, self._stale = self._stale, {}
        for topic, migrate in stale.items():
            if migrate:
                self.link.publish(topic, MIGRATE_PAYLOAD, qos=1)
        for topic, payload in self.configs.items():
            self.link.publish(topic, payload, qos=1, retain=True)
        for topic in stale:
            self.link.publish(topic, "", qos=1, retain=True)
        if stale:
            log.info("discovery_stale_cleared", topics=sorted(stale),
                     migrated=sorted(t for t, mig in stale.items() if mig))
