"""The daemon's configuration: one pydantic section per concern, one module per concern, under
one root (:class:`Config`), loaded from YAML.

A bad file stops start-up with exit status 78 (EX_CONFIG) and one line naming the file and the
field, before any pin or camera is touched. Every public name is re-exported here, so callers
write ``from edge.config import X`` whichever module holds X.
"""

from edge.config.base import (
    EX_CONFIG,
    REPO_ROOT,
    ConfigError,
    Fraction,
    NonNegSeconds,
    Point,
    Polygon,
    Section,
    check_zone_polygon,
    state_dir,
)
from edge.config.camera import AdaptiveConfig, CameraConfig, HealthConfig
from edge.config.detector import (
    YOLOX_NANO,
    DetectorBackend,
    DetectorConfig,
    OnnxConfig,
    ProfileConfig,
)
from edge.config.light import (
    PIN_FACTORY_ENV,
    FailsafeConfig,
    LampFeedbackConfig,
    LightConfig,
    PinFactory,
    WatchdogConfig,
    pin_factory_name,
)
from edge.config.loader import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    YAML_LOADER,
    Config,
    _describe,
    load_config,
    parse_config,
    read_document,
)
from edge.config.logging import LogFormat, LoggingConfig
from edge.config.mqtt import (
    OUTBOX_MEMORY_EVENTS,
    TOPIC_ROOT,
    DiscoveryForm,
    DropPolicy,
    MqttConfig,
    MqttProtocol,
    MqttTlsConfig,
    OutboxConfig,
)
from edge.config.stop import (
    PrivacyConfig,
    ScheduleConfig,
    StaticConfig,
    StopConfig,
    TrackerConfig,
    WaitingConfig,
    Window,
    ZoneConfig,
)
from edge.config.web import WebConfig, is_loopback

__all__ = [
    "EX_CONFIG",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "OUTBOX_MEMORY_EVENTS",
    "PIN_FACTORY_ENV",
    "REPO_ROOT",
    "TOPIC_ROOT",
    "YAML_LOADER",
    "YOLOX_NANO",
    "AdaptiveConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DetectorBackend",
    "DetectorConfig",
    "DiscoveryForm",
    "DropPolicy",
    "FailsafeConfig",
    "Fraction",
    "HealthConfig",
    "LampFeedbackConfig",
    "LightConfig",
    "LogFormat",
    "LoggingConfig",
    "MqttConfig",
    "MqttProtocol",
    "MqttTlsConfig",
    "NonNegSeconds",
    "OnnxConfig",
    "OutboxConfig",
    "PinFactory",
    "Point",
    "Polygon",
    "PrivacyConfig",
    "ProfileConfig",
    "ScheduleConfig",
    "Section",
    "StaticConfig",
    "StopConfig",
    "TrackerConfig",
    "WaitingConfig",
    "WatchdogConfig",
    "WebConfig",
    "Window",
    "ZoneConfig",
    "_describe",
    "check_zone_polygon",
    "is_loopback",
    "load_config",
    "parse_config",
    "pin_factory_name",
    "read_document",
    "state_dir",
]
