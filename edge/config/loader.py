"""The daemon's configuration: one pydantic model per concern under one root, loaded from YAML.

A bad file stops start-up with exit status 78 (EX_CONFIG) and one line naming the file and the
field, before any pin or camera is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from edge.config.base import ConfigError, Section, check_zone_polygon
from edge.config.bus import (
    ArrivalsConfig,
    AttentionConfig,
    AttentionKind,
    BusSignalConfig,
    ButtonConfig,
    KerbConfig,
)
from edge.config.camera import AdaptiveConfig, CameraConfig, HealthConfig
from edge.config.detector import DetectorConfig
from edge.config.light import FailsafeConfig, LampFeedbackConfig, LightConfig, WatchdogConfig
from edge.config.logging import LoggingConfig
from edge.config.messages import describe
from edge.config.mqtt import MqttConfig
from edge.config.stop import (
    PrivacyConfig,
    ScheduleConfig,
    StaticConfig,
    StopConfig,
    TrackerConfig,
    WaitingConfig,
    ZoneConfig,
)
from edge.config.web import WebConfig


class Config(Section):
    """The whole configuration file."""

    stop: StopConfig = Field(default_factory=StopConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    zone: ZoneConfig = Field(default_factory=ZoneConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    static: StaticConfig = Field(default_factory=StaticConfig)
    waiting: WaitingConfig = Field(default_factory=WaitingConfig)
    light: LightConfig = Field(default_factory=LightConfig)
    lamp_feedback: LampFeedbackConfig = Field(default_factory=LampFeedbackConfig)
    failsafe: FailsafeConfig = Field(default_factory=FailsafeConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    arrivals: ArrivalsConfig = Field(default_factory=ArrivalsConfig)
    attention: AttentionConfig = Field(default_factory=AttentionConfig)
    button: ButtonConfig = Field(default_factory=ButtonConfig)
    bus_signal: BusSignalConfig = Field(default_factory=BusSignalConfig)
    kerb: KerbConfig = Field(default_factory=KerbConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    @field_validator("zone")
    @classmethod
    def _zone_is_a_simple_polygon(cls, zone: ZoneConfig) -> ZoneConfig:
        check_zone_polygon(zone.polygon, "zone.polygon")
        for i, mask in enumerate(zone.masks):
            check_zone_polygon(mask, f"zone.masks[{i}]")
        return zone

    @model_validator(mode="after")
    def _feedback_pin_is_not_the_relay(self) -> Config:
        if self.lamp_feedback.pin is not None and self.lamp_feedback.pin == self.light.pin:
            raise ValueError(
                f"lamp_feedback.pin {self.lamp_feedback.pin} is the relay's pin (light.pin)"
            )
        return self

    @field_validator("kerb")
    @classmethod
    def _kerb_is_a_simple_polygon(cls, kerb: KerbConfig) -> KerbConfig:
        if kerb.polygon is not None:
            check_zone_polygon(kerb.polygon, "kerb.polygon")
        return kerb

    @model_validator(mode="after")
    def _one_pin_one_use(self) -> Config:
        pins = {"light.pin": self.light.pin, "lamp_feedback.pin": self.lamp_feedback.pin,
                "button.pin": self.button.pin,
                "attention.pin": self.attention.pin
                if self.attention.pattern is AttentionKind.OUTPUT else None}
        used: dict[int, str] = {}
        for name, pin in pins.items():
            if pin is not None and pin in used:
                raise ValueError(f"{name} {pin} is also {used[pin]}")
            if pin is not None:
                used[pin] = name
        return self


# the zone is written in fractions; where someone typed pixels, the command that converts them
PIXEL_HINT = 'for pixels use "stopsafe zone --set ... --px"'


def parse_config(data: Any, source: Path | str = "<config>") -> Config:
    """Validate an already-parsed YAML document; whatever is wrong with it, a ConfigError (one
    line), never a traceback."""
    path = Path(source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of sections")
    try:
        try:
            return Config.model_validate(data)
        except ValidationError as exc:  # (its words may recurse into the document too)
            raise ConfigError(describe(path, exc, Config, data, PIXEL_HINT)) from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise ConfigError(f"{path}: (top level): cannot be checked: {type(exc).__name__}"
                          ) from None


# libyaml's parser where PyYAML has it: 50x faster, and it refuses absurd nesting itself instead
# of recursing into Python's limit (a 1,000-deep file took 1.3 s to fail); same documents
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FILE_BYTES = 1 << 20  # a config or scenario file is a few kB; anything this big is wrong
MAX_DEPTH = 16  # sections nest 4 levels deep (detector.night.model); far deeper is a broken file
MAX_NODES = 100_000  # values counted with repeats: YAML aliases can multiply a small file


def _check_shape(data: Any, path: Path) -> None:
    """Refuse documents no config can be before pydantic (or Python's recursion) sees them:
    nested too deeply, or too many values (a 'billion laughs' of YAML aliases)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError(f"{path}: (top level): more than {MAX_NODES} values "
                              "(YAML aliases repeating each other?)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{path}: (top level): nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value if isinstance(k, (tuple, list, dict)))
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def read_document(path: Path | str) -> Any:
    """The YAML document in ``path``, whatever is wrong with the file: a ConfigError with one
    line for a missing, unreadable, huge, non-UTF-8, malformed or absurdly nested file (used by
    the config and by scenario files)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # never more: /dev/zero is a "file" too
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB: not a config file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path}: the file is UTF-16 or UTF-32; save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")  # a UTF-8 byte-order mark is harmless
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); "
                          "save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=YAML_LOADER)  # a safe loader (no Python objects)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(" ".join(f"{path}: YAML syntax: {where}{problem}".split())) from None
    except RecursionError:
        raise ConfigError(f"{path}: (top level): nested more than {MAX_DEPTH} levels "
                          "deep") from None
    _check_shape(data, path)
    return data


def load_config(path: Path | str | None) -> Config:
    """The validated config from ``path``, or the built-in defaults when ``path`` is None.

    Any file at all ends here as a Config or as a ConfigError (exit 78, one line): never as a
    traceback, which systemd would restart for ever."""
    if path is None:
        return Config()
    return parse_config(read_document(path), path)


