"""The daemon's configuration: one pydantic section per concern, one module per concern, under
one root (:class:`Config`), loaded from YAML.

A bad file stops start-up with exit status 78 (EX_CONFIG) and one line naming the file and the
field, before any pin or camera is touched. The names the rest of the stop uses are re-exported
here, so callers write ``from edge.config import X`` whichever module holds X; a name nobody
imports stays in its own module until someone does.
"""

from detector.settings import OnnxProvider
from edge.config.base import (
    EX_CONFIG,
    ConfigError,
    Point,
    check_zone_polygon,
    state_dir,
)
from edge.config.bus import (
    SERVICE_KEY_ENV,
    SERVICE_URLS,
    ArrivalsConfig,
    AttentionKind,
    BusSignalConfig,
)
from edge.config.camera import AdaptiveConfig, CameraConfig, HealthConfig
from edge.config.detector import YOLOX_NANO, DetectorBackend, DetectorConfig, ProfileConfig
from edge.config.light import PinFactory, pin_factory_name
from edge.config.loader import Config, load_config, parse_config, read_document
from edge.config.logging import LogFormat, LoggingConfig
from edge.config.mqtt import (
    OUTBOX_MEMORY_EVENTS,
    DiscoveryForm,
    DropPolicy,
    MqttConfig,
    MqttProtocol,
    MqttTlsConfig,
)
from edge.config.stop import StopConfig, Window
from edge.config.web import WebConfig, is_loopback

__all__ = [
    "EX_CONFIG",
    "OUTBOX_MEMORY_EVENTS",
    "SERVICE_KEY_ENV",
    "SERVICE_URLS",
    "YOLOX_NANO",
    "AdaptiveConfig",
    "ArrivalsConfig",
    "AttentionKind",
    "BusSignalConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DetectorBackend",
    "DetectorConfig",
    "DiscoveryForm",
    "DropPolicy",
    "HealthConfig",
    "LogFormat",
    "LoggingConfig",
    "MqttConfig",
    "MqttProtocol",
    "MqttTlsConfig",
    "OnnxProvider",
    "PinFactory",
    "Point",
    "ProfileConfig",
    "StopConfig",
    "WebConfig",
    "Window",
    "check_zone_polygon",
    "is_loopback",
    "load_config",
    "parse_config",
    "pin_factory_name",
    "read_document",
    "state_dir",
]
