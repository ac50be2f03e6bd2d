"""The maintenance link's section: broker, TLS, outbox and Home Assistant discovery."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from edge.config.base import HTTP_URL, Section

# an MQTT topic root: no wildcards, no NUL, no leading or trailing "/"
TOPIC_ROOT = r"^[^+#/\x00]([^+#\x00]*[^+#/\x00])?$"


class MqttProtocol(str, Enum):
    V311 = "3.1.1"
    V5 = "5"


class DiscoveryForm(str, Enum):
    """How the Home Assistant discovery configs are sent."""

    DEVICE = "device"  # one retained config per stop with a components map (HA 2024.11+)
    ENTITIES = "entities"  # one retained config per entity (older Home Assistant)


class DropPolicy(str, Enum):
    """What the event outbox gives up when it is full."""

    OLDEST = "oldest"  # drop the oldest queued event to make room (the crew sees the latest)
    NEWEST = "newest"  # keep the backlog, refuse the new event


class MqttTlsConfig(Section):
    """TLS to the broker: the server is always verified against a CA when enabled."""

    enabled: bool = Field(False, description="Connect with TLS (usually port 8883).")
    ca_file: Path | None = Field(
        None, description="CA certificate(s) that signed the broker's; None: the system's CAs."
    )
    cert_file: Path | None = Field(None, description="Client certificate (optional, with key).")
    key_file: Path | None = Field(None, description="Client private key (with cert_file).")

    @model_validator(mode="after")
    def _pair(self) -> MqttTlsConfig:
        if (self.key_file is None) != (self.cert_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together")
        return self


OUTBOX_MEMORY_EVENTS = 1000  # events kept in memory while the outbox's disk fails


class OutboxConfig(Section):
    """The on-disk queue that keeps events through a broker outage."""

    path: Path | None = Field(
        None, description="SQLite file; None: $STATE_DIRECTORY (systemd), else "
        "~/.local/state/stopsafe, as outbox-<stop id>.sqlite. ':memory:' keeps no file.",
    )
    max_events: int = Field(
        10000, ge=10, le=10_000_000, description="Events kept while the broker is away."
    )
    drop: DropPolicy = Field(
        DropPolicy.OLDEST, description="When full: 'oldest' drops the oldest queued event, "
        "'newest' refuses the new one.",
    )
    memory_max_events: int = Field(
        OUTBOX_MEMORY_EVENTS, ge=10, le=1_000_000, description="Events kept in memory while "
        "the disk does not "
        "take them (full, read-only; the outbox_failed fault); beyond this they are dropped "
        "per 'drop' and counted in tele's events.dropped.",
    )


class MqttConfig(Section):
    """Link to the maintenance broker (off unless enabled)."""

    enabled: bool = Field(False, description="Connect to a broker.")
    standalone: bool = Field(
        False, description="This stop is meant to run without MQTT (no maintenance link): "
        "said explicitly, so `stopsafe commission` does not fail it for MQTT being off.",
    )
    host: str = Field("localhost", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    prefix: str = Field(
        "stopsafe", min_length=1, max_length=100, pattern=TOPIC_ROOT,
        description="Topic root before the stop id (no wildcards).",
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive, seconds.")
    protocol: MqttProtocol = Field(
        MqttProtocol.V5, description="'5' (response topics, reason codes) or '3.1.1'."
    )
    client_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Client id; None: 'stopsafe-<stop id>' (one per stop, so a second box "
        "with the same id takes over the session instead of sharing it).",
    )
    username: str | None = Field(
        None, min_length=1, max_length=128,
        description="User name; else $STOPSAFE_MQTT_USERNAME. Not a secret.",
    )
    password_file: Path | None = Field(
        None, description="File whose first line is the password; else "
        "$STOPSAFE_MQTT_PASSWORD. The password is never logged or published.",
    )
    tls: MqttTlsConfig = Field(default_factory=MqttTlsConfig)
    telemetry_s: float = Field(
        60.0, ge=1.0, le=3600.0, description="Seconds between 'tele' messages."
    )
    reconnect_min_s: float = Field(
        1.0, gt=0.0, le=600.0, description="First wait before reconnecting (it doubles) ..."
    )
    reconnect_max_s: float = Field(
        60.0, gt=0.0, le=3600.0, description="... up to this; each wait is jittered."
    )
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    cmd_max_bytes: int = Field(
        4096, ge=16, le=1_048_576, description="Larger command payloads are refused."
    )
    cmd_rate_per_s: float = Field(
        2.0, gt=0.0, le=10000.0, description="Sustained commands a second (token bucket) ..."
    )
    cmd_burst: int = Field(10, ge=1, le=100000, description="... with bursts up to this.")
    discovery: bool = Field(True, description="Publish Home Assistant discovery configs.")
    discovery_prefix: str = Field(
        "homeassistant", min_length=1, max_length=100, pattern=TOPIC_ROOT,
        description="Home Assistant's discovery prefix.",
    )
    discovery_form: DiscoveryForm = Field(
        DiscoveryForm.DEVICE, description="'device': one config per stop (Home Assistant "
        "2024.11 or later); 'entities': one config per entity, for older versions. Switching "
        "clears the other form's retained configs.",
    )
    discovery_delay_max_s: float = Field(
        30.0, ge=0.0, le=600.0, description="After Home Assistant announces itself 'online', "
        "each stop re-sends its discovery config after its own delay in [0, this) seconds, "
        "fixed per stop id, so a fleet's answers are spread evenly instead of all at once.",
    )
    configuration_url: str | None = Field(
        None, max_length=2000, pattern=HTTP_URL,
        description="Link shown on the stop's device page in Home Assistant (e.g. the fleet "
        "console or the stop's record); none by default.",
    )
    support_url: str | None = Field(
        None, max_length=2000, pattern=HTTP_URL,
        description="The discovery configs' origin support URL (where Home Assistant users of "
        "this fleet get help); none by default.",
    )
    camera_stale_s: float = Field(
        10.0, gt=0.0, le=3600.0,
        description="No frame for this long raises the 'camera_stale' fault.",
    )

    @field_validator("reconnect_max_s")
    @classmethod
    def _max_not_below_min(cls, v: float, info: Any) -> float:
        if v < info.data.get("reconnect_min_s", 0.0):
            raise ValueError("must not be below reconnect_min_s")
        return v

    @model_validator(mode="after")
    def _standalone_is_off(self) -> MqttConfig:
        if self.enabled and self.standalone:
            raise ValueError("enabled and standalone are both true: a standalone stop has no "
                             "broker; set one of them false")
        return self


