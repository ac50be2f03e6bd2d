"""Sections about the floor light: the relay, lamp feedback, the fail-safe and the watchdog."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated, Any

from pydantic import Field, field_validator

from edge.config.base import NonNegSeconds, Section
from edge.decision.light_rules import FailState

PIN_FACTORY_ENV = "GPIOZERO_PIN_FACTORY"


class PinFactory(str, Enum):
    AUTO = "auto"
    MOCK = "mock"
    LGPIO = "lgpio"
    RPIGPIO = "rpigpio"
    PIGPIO = "pigpio"
    NATIVE = "native"


class LightConfig(Section):
    """The floor light's relay and its timing."""

    pin: int = Field(
        17, ge=0, le=27, description="BCM pin of the relay. Pins 9-27 are pulled down at boot, "
        "so with an active-high relay a floating pin means 'light off'.",
    )
    active_high: bool = Field(
        True, description="True when a high pin switches the relay on."
    )
    pin_factory: PinFactory = Field(
        PinFactory.AUTO, description="gpiozero pin factory; 'auto' takes "
        "$GPIOZERO_PIN_FACTORY or gpiozero's own choice ('lgpio' on a Raspberry Pi 5).",
    )
    hold_s: NonNegSeconds = Field(
        5.0, description="Time the light stays on after the last waiting person has left."
    )
    min_on_s: NonNegSeconds = Field(
        0.0, description="Shortest time the light stays on once switched on."
    )
    max_on_s: Annotated[float, Field(gt=0.0, le=86400.0)] | None = Field(
        None, description="Optional: after this long on, the light goes off (fault "
        "light_max_on) until the scene changes: someone new starts waiting, or nobody is "
        "waiting any more. Null (default): no limit.",
    )


class LampFeedbackConfig(Section):
    """Optional lamp-current input: a current sensor or the relay's auxiliary contact."""

    pin: int | None = Field(
        None, ge=0, le=27, description="BCM pin of the input; null when no feedback is wired.",
    )
    active_high: bool = Field(
        True, description="True when a high input means 'the lamp draws current'."
    )
    pull_up: bool | None = Field(
        False, description="Internal pull: false = pull-down, true = pull-up, null = none "
        "(an external resistor).",
    )
    follow_s: Annotated[float, Field(gt=0.0, le=600.0)] = Field(
        2.0, description="The input must follow the relay within this time, else the "
        "lamp_failed fault is raised (lamp_stuck_on when it stays on after the relay is off).",
    )


class WatchdogConfig(Section):
    """The daemon's own watchdog over its pipeline stages."""

    stage_timeout_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        60.0, description="A stage (camera read, detector, decision, relay, publishing) that "
        "has not returned after this long ends the process with status 70, so systemd "
        "restarts it. Keep it above camera.timeout_s.",
    )


class FailsafeConfig(Section):
    """What the light does when the daemon cannot see (camera lost, model failing)."""

    fail_state: FailState = Field(
        FailState.ON, description="'on' (default): a blind stop lights so that every bus "
        "stops; a dark one would let buses pass waiting passengers by. 'off': dark while "
        "blind. 'last': keep the state the light had when the daemon went blind.",
    )
    after_s: Annotated[float, Field(gt=0.0, le=86400.0)] = Field(
        10.0, description="Blind (no frame or no working detector) this long before "
        "fail_state applies. Keep it below the unit's WatchdogSec (30 s).",
    )
    retry_min_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        1.0, description="A part missing or broken at start (the model, the camera file, the "
        "lamp input) is a fault and tried again after this long, the wait doubling ...",
    )
    retry_max_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        30.0, description="... up to this, until it comes right (no restart needed).",
    )

    @field_validator("fail_state", mode="before")
    @classmethod
    def _yaml_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML 1.1 reads an unquoted on/off as true/false
            return FailState.ON if value else FailState.OFF
        return value


def pin_factory_name(light: LightConfig) -> str | None:
    """The gpiozero pin factory to use: the config's, else the environment's, else gpiozero's."""
    if light.pin_factory is not PinFactory.AUTO:
        return light.pin_factory.value
    env = os.environ.get(PIN_FACTORY_ENV, "").strip().lower()
    return env or None


