"""A strict schema of Home Assistant's MQTT discovery payloads, for the platforms stopsafe uses.

Written from Home Assistant's MQTT documentation, not from stopsafe's code:
- https://www.home-assistant.io/integrations/mqtt/#device-discovery-payload (device-based form:
  ``device`` and ``origin`` mandatory at the root, shared options, ``components`` each with
  ``platform`` and ``unique_id``), #single-component-discovery-payload, #adding-information-about-
  the-origin-of-a-discovery-message (origin: name, sw_version, support_url),
  #using-availability-topics;
- the configuration variables of https://www.home-assistant.io/integrations/select.mqtt/,
  light.mqtt/ (default schema), binary_sensor.mqtt/, sensor.mqtt/, button.mqtt/, event.mqtt/,
  image.mqtt/ (exactly one of ``image_topic`` and ``url_topic``);
- the sensor device classes of https://www.home-assistant.io/integrations/sensor/#device-class
  and of the developer docs' sensor entity page (``SensorDeviceClass``): the names, the units
  each numeric class takes where stopsafe uses it (duration, frequency), and that ``enum``,
  ``timestamp`` and ``date`` take no unit and no state class (``enum`` needs ``options``, and
  ``options`` is for ``enum`` only); ``last_reset_value_template`` only with ``total``;
- ``default_entity_id`` (Home Assistant 2025.10) is a full entity id, ``<domain>.<object id>``;
  ``object_id`` is deprecated and ignored since 2026.4, so it is refused here like any key the
  documentation does not list. Home Assistant itself ignores unknown keys; refusing them is what
  makes this check catch typos and keys it would silently drop.

Abbreviated keys (``dev``, ``o``, ``cmps``, ``p``, ...) are valid for Home Assistant, but stopsafe
sends the full names, so the schema has only those.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

Topic = Annotated[StrictStr, Field(min_length=1, max_length=65535, pattern=r"^[^#+\x00]+$")]
SubscribeTopic = Annotated[StrictStr, Field(min_length=1, pattern=r"^[^\x00]+$")]
Template = Annotated[StrictStr, Field(min_length=1)]
Url = Annotated[StrictStr, Field(pattern=r"^(https?|homeassistant)://\S+$")]
Icon = Annotated[StrictStr, Field(pattern=r"^[a-z0-9-]+:[a-z0-9-]+$")]
Qos = Literal[0, 1, 2]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Device(_Strict):
    """``device``: at least identifiers or connections (and a name on the first entity)."""

    configuration_url: Url | None = None
    connections: list[tuple[StrictStr, StrictStr]] | None = None
    hw_version: StrictStr | None = None
    identifiers: StrictStr | list[StrictStr] | None = None
    manufacturer: StrictStr | None = None
    model: StrictStr | None = None
    model_id: StrictStr | None = None
    name: StrictStr | None = None
    serial_number: StrictStr | None = None
    suggested_area: StrictStr | None = None
    sw_version: StrictStr | None = None
    via_device: StrictStr | None = None

    @model_validator(mode="after")
    def _identified(self) -> Device:
        if not self.identifiers and not self.connections:
            raise ValueError("a device needs identifiers or connections")
        return self


class Origin(_Strict):
    name: StrictStr = Field(min_length=1)
    sw_version: StrictStr | None = None
    support_url: Url | None = None


class AvailabilityEntry(_Strict):
    topic: SubscribeTopic
    payload_available: StrictStr | None = None
    payload_not_available: StrictStr | None = None
    value_template: Template | None = None


class EntityCategory(str, Enum):
    CONFIG = "config"
    DIAGNOSTIC = "diagnostic"


class _Availability(_Strict):
    """The availability options (shared at the root of a device-based payload)."""

    availability: list[AvailabilityEntry] | None = None
    availability_mode: Literal["all", "any", "latest"] | None = None
    availability_template: Template | None = None
    availability_topic: SubscribeTopic | None = None
    payload_available: StrictStr | None = None
    payload_not_available: StrictStr | None = None

    @model_validator(mode="after")
    def _one_way(self) -> _Availability:
        if self.availability is not None and self.availability_topic is not None:
            raise ValueError("availability and availability_topic must not be used together")
        return self


class _Entity(_Availability):
    """Options every MQTT entity platform documents."""

    PLATFORM: ClassVar[str] = ""  # set by each subclass

    platform: StrictStr | None = None  # only inside a device-based payload's components
    device: Device | None = None
    origin: Origin | None = None
    default_entity_id: StrictStr | None = None
    enabled_by_default: StrictBool | None = None
    encoding: StrictStr | None = None
    entity_category: EntityCategory | None = None
    entity_picture: Url | None = None
    icon: Icon | None = None
    json_attributes_template: Template | None = None
    json_attributes_topic: SubscribeTopic | None = None
    name: StrictStr | None = None
    qos: Qos | None = None
    unique_id: StrictStr | None = None

    @model_validator(mode="after")
    def _ids(self) -> _Entity:
        if self.platform is not None and self.platform != self.PLATFORM:
            raise ValueError(f"platform {self.platform!r} in a {self.PLATFORM} config")
        eid = self.default_entity_id
        if eid is not None and not re.fullmatch(rf"{self.PLATFORM}\.[a-z0-9_]+", eid):
            raise ValueError(f"default_entity_id must be '{self.PLATFORM}.<object id>' "
                             f"(lower case letters, digits, '_'): {eid!r}")
        if self.json_attributes_template is not None and self.json_attributes_topic is None:
            raise ValueError("json_attributes_template without json_attributes_topic")
        return self


class Select(_Entity):
    PLATFORM: ClassVar[str] = "select"
    command_topic: Topic
    command_template: Template | None = None
    optimistic: StrictBool | None = None
    options: list[StrictStr] = Field(min_length=1)
    retain: StrictBool | None = None
    state_topic: SubscribeTopic | None = None
    value_template: Template | None = None


class Light(_Entity):
    """The default ('basic') schema of the MQTT light."""

    PLATFORM: ClassVar[str] = "light"
    schema_: Literal["basic", "default"] | None = Field(None, alias="schema")
    command_topic: Topic
    state_topic: SubscribeTopic | None = None
    state_value_template: Template | None = None
    payload_on: StrictStr | None = None
    payload_off: StrictStr | None = None
    optimistic: StrictBool | None = None
    retain: StrictBool | None = None
    on_command_type: Literal["first", "last", "brightness"] | None = None
    brightness_command_template: Template | None = None
    brightness_command_topic: Topic | None = None
    brightness_scale: StrictInt | None = None
    brightness_state_topic: SubscribeTopic | None = None
    brightness_value_template: Template | None = None
    color_mode_state_topic: SubscribeTopic | None = None
    color_mode_value_template: Template | None = None
    color_temp_command_template: Template | None = None
    color_temp_command_topic: Topic | None = None
    color_temp_kelvin: StrictBool | None = None
    color_temp_state_topic: SubscribeTopic | None = None
    color_temp_value_template: Template | None = None
    effect_command_template: Template | None = None
    effect_command_topic: Topic | None = None
    effect_list: list[StrictStr] | None = None
    effect_state_topic: SubscribeTopic | None = None
    effect_value_template: Template | None = None
    hs_command_template: Template | None = None
    hs_command_topic: Topic | None = None
    hs_state_topic: SubscribeTopic | None = None
    hs_value_template: Template | None = None
    max_kelvin: StrictInt | None = None
    min_kelvin: StrictInt | None = None
    max_mireds: StrictInt | None = None
    min_mireds: StrictInt | None = None
    rgb_command_template: Template | None = None
    rgb_command_topic: Topic | None = None
    rgb_state_topic: SubscribeTopic | None = None
    rgb_value_template: Template | None = None
    rgbw_command_template: Template | None = None
    rgbw_command_topic: Topic | None = None
    rgbw_state_topic: SubscribeTopic | None = None
    rgbw_value_template: Template | None = None
    rgbww_command_template: Template | None = None
    rgbww_command_topic: Topic | None = None
    rgbww_state_topic: SubscribeTopic | None = None
    rgbww_value_template: Template | None = None
    white_command_topic: Topic | None = None
    white_scale: StrictInt | None = None
    xy_command_template: Template | None = None
    xy_command_topic: Topic | None = None
    xy_state_topic: SubscribeTopic | None = None
    xy_value_template: Template | None = None


BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
    "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
    "tamper", "update", "vibration", "window",
}


class BinarySensor(_Entity):
    PLATFORM: ClassVar[str] = "binary_sensor"
    state_topic: SubscribeTopic
    device_class: StrictStr | None = None
    expire_after: Annotated[StrictInt, Field(gt=0)] | None = None
    force_update: StrictBool | None = None
    off_delay: Annotated[StrictInt, Field(gt=0)] | None = None
    payload_on: StrictStr | None = None
    payload_off: StrictStr | None = None
    value_template: Template | None = None

    @field_validator("device_class")
    @classmethod
    def _known_class(cls, v: str | None) -> str | None:
        if v is not None and v not in BINARY_SENSOR_CLASSES:
            raise ValueError(f"unknown binary_sensor device_class {v!r}")
        return v


DURATION_UNITS = {"d", "h", "min", "s", "ms", "µs"}
SENSOR_CLASSES = {
    "absolute_humidity", "apparent_power", "aqi", "area", "atmospheric_pressure", "battery",
    "blood_glucose_concentration", "carbon_dioxide", "carbon_monoxide", "conductivity",
    "current", "data_rate", "data_size", "date", "distance", "duration", "energy",
    "energy_distance", "energy_storage", "enum", "frequency", "gas", "humidity", "illuminance",
    "irradiance", "moisture", "monetary", "nitrogen_dioxide", "nitrogen_monoxide",
    "nitrous_oxide", "ozone", "ph", "pm1", "pm10", "pm25", "power", "power_factor",
    "precipitation", "precipitation_intensity", "pressure", "reactive_energy", "reactive_power",
    "signal_strength", "sound_pressure", "speed", "sulphur_dioxide", "temperature", "timestamp",
    "volatile_organic_compounds", "volatile_organic_compounds_parts", "voltage", "volume",
    "volume_flow_rate", "volume_storage", "water", "weight", "wind_direction", "wind_speed",
}
# the classes stopsafe uses that have a fixed set of units and state classes
SENSOR_CLASS_UNITS = {"duration": DURATION_UNITS, "frequency": {"Hz", "kHz", "MHz", "GHz"}}
SENSOR_CLASS_STATE_CLASSES = {
    "duration": {"measurement", "total", "total_increasing"}, "frequency": {"measurement"},
}
NON_NUMERIC_CLASSES = {"enum", "timestamp", "date"}  # no unit, no state class


class Sensor(_Entity):
    PLATFORM: ClassVar[str] = "sensor"
    state_topic: SubscribeTopic
    device_class: StrictStr | None = None
    expire_after: Annotated[StrictInt, Field(gt=0)] | None = None
    force_update: StrictBool | None = None
    last_reset_value_template: Template | None = None
    options: list[StrictStr] | None = None
    state_class: Literal["measurement", "measurement_angle", "total",
                         "total_increasing"] | None = None
    suggested_display_precision: Annotated[StrictInt, Field(ge=0)] | None = None
    unit_of_measurement: StrictStr | None = None
    value_template: Template | None = None

    @field_validator("device_class")
    @classmethod
    def _known_class(cls, v: str | None) -> str | None:
        if v is not None and v not in SENSOR_CLASSES:
            raise ValueError(f"unknown sensor device_class {v!r}")
        return v

    @model_validator(mode="after")
    def _class_rules(self) -> Sensor:
        dc = self.device_class
        if dc == "duration" and self.unit_of_measurement not in DURATION_UNITS:
            raise ValueError("a duration sensor needs a time unit")
        if dc in SENSOR_CLASS_UNITS and self.unit_of_measurement not in SENSOR_CLASS_UNITS[dc]:
            raise ValueError(f"a {dc} sensor takes one of {sorted(SENSOR_CLASS_UNITS[dc])}")
        if (dc in SENSOR_CLASS_STATE_CLASSES and self.state_class is not None
                and self.state_class not in SENSOR_CLASS_STATE_CLASSES[dc]):
            raise ValueError(f"state_class {self.state_class!r} is not for a {dc} sensor")
        if dc in NON_NUMERIC_CLASSES and (self.unit_of_measurement is not None
                                          or self.state_class is not None):
            raise ValueError(f"a {dc} sensor has no unit and no state_class")
        if (self.options is not None) != (dc == "enum"):
            raise ValueError("options go with device_class enum, and enum needs options")
        if self.last_reset_value_template is not None and self.state_class != "total":
            raise ValueError("last_reset_value_template is only for state_class total")
        return self


class Button(_Entity):
    PLATFORM: ClassVar[str] = "button"
    command_topic: Topic
    command_template: Template | None = None
    device_class: Literal["identify", "restart", "update"] | None = None
    payload_press: StrictStr | None = None
    retain: StrictBool | None = None


class Event(_Entity):
    PLATFORM: ClassVar[str] = "event"
    state_topic: SubscribeTopic
    event_types: list[StrictStr] = Field(min_length=1)
    device_class: Literal["button", "doorbell", "motion"] | None = None
    value_template: Template | None = None


class Image(_Entity):
    PLATFORM: ClassVar[str] = "image"
    image_topic: SubscribeTopic | None = None
    content_type: Annotated[StrictStr, Field(pattern=r"^image/[a-z0-9.+-]+$")] | None = None
    image_encoding: Literal["b64"] | None = None
    url_topic: SubscribeTopic | None = None
    url_template: Template | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Image:
        if (self.image_topic is None) == (self.url_topic is None):
            raise ValueError("an image needs exactly one of image_topic and url_topic")
        if self.url_topic is None and self.url_template is not None:
            raise ValueError("url_template without url_topic")
        return self


PLATFORMS: dict[str, type[_Entity]] = {m.PLATFORM: m for m in (
    Select, Light, BinarySensor, Sensor, Button, Event, Image)}


class DevicePayload(_Availability):
    """``<discovery_prefix>/device/<id>/config``: device and origin at the root (mandatory)."""

    device: Device
    origin: Origin
    components: dict[StrictStr, dict[str, Any]] = Field(min_length=1)
    command_topic: Topic | None = None
    state_topic: SubscribeTopic | None = None
    qos: Qos | None = None
    encoding: StrictStr | None = None

    @field_validator("components")
    @classmethod
    def _each_component(cls, comps: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for key, comp in comps.items():
            platform = comp.get("platform")
            if platform not in PLATFORMS:
                raise ValueError(f"component {key!r}: platform {platform!r} is not one of "
                                 f"{sorted(PLATFORMS)}")
            if "device" in comp or "origin" in comp:
                raise ValueError(f"component {key!r}: device and origin belong at the root")
            if not comp.get("unique_id"):
                raise ValueError(f"component {key!r}: an entity needs a unique_id")
            PLATFORMS[platform].model_validate(comp)
        return comps


def validate_entity_config(platform: str, payload: dict[str, Any]) -> _Entity:
    """One single-component payload (``<prefix>/<platform>/<node>/<object>/config``)."""
    model = PLATFORMS[platform].model_validate(payload)
    if model.platform is not None:
        raise ValueError("platform is only for components of a device-based payload")
    return model


def validate_config(topic: str, payload: dict[str, Any], prefix: str = "homeassistant") -> Any:
    """Either form, told apart by the topic, as Home Assistant does."""
    parts = topic[len(prefix) + 1:].split("/")
    if parts[0] == "device":
        return DevicePayload.model_validate(payload)
    return validate_entity_config(parts[0], payload)
