"""Scenario files: a clip, its zone and timings, and its truth (see shared/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config import ConfigError, Point, _describe
from sim.injection import FaultSpec


class TruthSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: str | None = Field(None, description="CSV start_s,end_s of one person in the zone.")
    mot: str | None = Field(None, description="MOTChallenge gt.txt with person boxes.")
    frames: str | None = Field(None, description="CSV file,in_zone for unrelated stills.")
    tolerance_s: Annotated[float, Field(ge=0.0)] = Field(
        0.0, description="Frames this close to a truth edge are not scored."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> TruthSpec:
        kinds = [k for k in ("presence", "mot", "frames") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("truth needs exactly one of presence, mot or frames")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("presence", "mot", "frames") if getattr(self, k))

    @property
    def file(self) -> str:
        return getattr(self, self.kind)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    clip: str = Field(min_length=1, description="Video file or folder of frames.")
    fps: Annotated[float, Field(gt=0.0, le=1000.0)] | None = None
    zone: list[Point] = Field(min_length=3)
    dwell_s: Annotated[float, Field(ge=0.0)]
    hold_s: Annotated[float, Field(ge=0.0)]
    truth: TruthSpec
    faults: list[FaultSpec] = Field(
        [], description="Injected faults (camera, model, relay, broker) on the clip's clock.")
    base_dir: Path = Field(Path("."), exclude=True)

    @property
    def clip_path(self) -> Path:
        return self.base_dir / self.clip

    @property
    def truth_path(self) -> Path:
        return self.base_dir / self.truth.file


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping")
    data["base_dir"] = path.resolve().parent
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None
