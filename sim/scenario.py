"""Scenario files: a clip, its zone and timings, and its truth (see shared/README.md)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.config import ConfigError, Point, check_zone_polygon, read_document
from edge.config.messages import describe
from sim.expectations import EXPECTATIONS, Needs, check_expectations
from sim.injection import FaultSpec
from sim.own_light import OwnLight

if TYPE_CHECKING:
    from edge.decision.zones import Zone
    from sim.truth import Truth

MIN_FPS = 0.2  # a folder of stills at one frame every 5 s is the slowest that makes sense
MAX_CLIP_S = 6 * 3600.0  # a clip's own duration; longer scenarios would run for hours
Seconds = Annotated[float, Field(ge=0.0, le=3600.0)]


class TruthSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: str | None = Field(None, description="CSV start_s,end_s of one person in the zone.")
    mot: str | None = Field(None, description="MOTChallenge gt.txt with person boxes.")
    frames: str | None = Field(None, description="CSV file,in_zone for unrelated stills.")
    tolerance_s: Seconds = Field(
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

    @property
    def gives(self) -> set[Needs]:
        """What this truth can measure: unrelated stills have no timeline, only mot has boxes."""
        out = {Needs.ANY}
        if self.kind != "frames":
            out.add(Needs.TIMELINE)
        if self.kind == "mot":
            out.add(Needs.BOXES)
        return out


class ButtonPress(BaseModel):
    """One press of the waiting button on the clip's clock."""

    model_config = ConfigDict(extra="forbid")

    at_s: Annotated[float, Field(ge=0.0, le=MAX_CLIP_S)]
    for_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        description="How long the press counts as someone waiting (the button's for_s).")


class BusOutcomeTruth(str, Enum):
    STOPPED = "stopped"
    PASSED = "passed"


class BusTruth(BaseModel):
    """What one bus of the feed really did at the stop."""

    model_config = ConfigDict(extra="forbid")

    trip_id: str | None = Field(None, min_length=1)
    vehicle_id: str | None = Field(None, min_length=1)
    outcome: BusOutcomeTruth

    @model_validator(mode="after")
    def _named(self) -> BusTruth:
        if self.trip_id is None and self.vehicle_id is None:
            raise ValueError("a bus's truth names its trip_id or vehicle_id")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    clip: str = Field(min_length=1, description="Video file or folder of frames.")
    fps: Annotated[float, Field(ge=MIN_FPS, le=1000.0)] | None = None
    zone: list[Point] = Field(min_length=3, max_length=64)
    dwell_s: Seconds
    hold_s: Seconds
    truth: TruthSpec
    faults: list[FaultSpec] = Field(
        [], description="Injected faults (camera, model, relay, broker) on the clip's clock.")
    own_light: OwnLight | None = Field(
        None, description="The floor light's effect on the picture while the relay is on "
        "(closed loop); None: the clip as filmed (`stopsafe sim --own-light` adds the default).")
    arrivals_feed: str | None = Field(
        None, min_length=1, description="Folder of GTFS-realtime FeedMessage files named by "
        "their offset in seconds from the clip's start (e.g. 12.5.pb): the feed's state from "
        "that moment on.")
    arrivals_epoch: float | None = Field(
        None, ge=0.0, description="POSIX time of the clip's start (maps the feed's times onto "
        "the clip); default: the first file's header time less its offset.")
    gtfs_stop_id: str | None = Field(None, min_length=1, description="This stop in the feed.")
    button: list[ButtonPress] = Field([], max_length=10000,
                                      description="Presses of the waiting button.")
    buses_truth: list[BusTruth] = Field(
        [], max_length=10000, description="What each bus of the feed really did.")
    expect: dict[str, float] = Field(
        {}, description="Thresholds the scores must meet (sim.expectations.EXPECTATIONS), "
        "e.g. occupancy_f1_min: 0.9; stopsafe sim exits 1 when one is missed.")
    base_dir: Path = Field(Path("."), exclude=True)
    _clip_s: float = PrivateAttr(0.0)  # measured by load_scenario: frames / fps

    @field_validator("expect", mode="before")
    @classmethod
    def _known_expectations(cls, expect: Any) -> Any:
        if expect is None:
            return {}
        if not isinstance(expect, dict):
            raise ValueError("expected a mapping of KEY: VALUE, KEY one of "
                             + ", ".join(EXPECTATIONS))
        return check_expectations(expect)


    @model_validator(mode="after")
    def _feed_complete(self) -> Scenario:
        if self.arrivals_feed is not None and self.gtfs_stop_id is None:
            raise ValueError("arrivals_feed needs gtfs_stop_id")
        if self.buses_truth and self.arrivals_feed is None:
            raise ValueError("buses_truth needs arrivals_feed")
        return self

    @property
    def feed_path(self) -> Path | None:
        return None if self.arrivals_feed is None else self.base_dir / self.arrivals_feed

    @field_validator("zone")
    @classmethod
    def _simple_zone(cls, zone: list[tuple[float, float]]) -> list[tuple[float, float]]:
        check_zone_polygon(zone, "zone")
        return zone

    @property
    def clip_s(self) -> float:
        """The clip's length in seconds (0 until load_scenario has looked at the clip)."""
        return self._clip_s

    @property
    def clip_path(self) -> Path:
        return self.base_dir / self.clip

    @property
    def truth_path(self) -> Path:
        return self.base_dir / self.truth.file


def load_scenario(path: Path | str) -> Scenario:
    """A usable scenario, or a ConfigError with one line (exit 78): whatever is wrong with the
    file, its clip (missing, unreadable, hours long at its fps) or its truth file."""
    path = Path(path)
    data: Any = read_document(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping")
    data["base_dir"] = path.resolve().parent
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(path, exc, Scenario, data)) from None
    _check_expect(sc, path)
    _check_clip(sc, path)
    _check_truth(sc, path)
    if sc.feed_path is not None:
        from sim.arrivals import read_feed_folder

        try:
            read_feed_folder(sc.feed_path)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{path}: arrivals_feed: {exc}"[:300]) from None
    return sc


def _check_expect(sc: Scenario, path: Path) -> None:
    """An expectation the scenario's own truth cannot measure is a mistake in the file (on the
    command line it is skipped for such scenarios instead: one option for a folder)."""
    for key in sc.expect:
        needs = EXPECTATIONS[key].needs
        if needs not in sc.truth.gives:
            raise ConfigError(f"{path}: expect.{key}: needs {needs.value}, and this scenario's "
                              f"truth is {sc.truth.kind}")


def _check_clip(sc: Scenario, path: Path) -> None:
    import cv2

    from edge.runtime.camera import frame_files
    from edge.runtime.frames import CameraError

    clip = sc.clip_path
    if not clip.exists():
        raise ConfigError(f"{path}: clip: {clip} does not exist")
    if clip.is_dir():
        try:
            frames = len(frame_files(clip))
        except (CameraError, OSError) as exc:
            raise ConfigError(f"{path}: clip: {exc}") from None
        if sc.fps is None:
            raise ConfigError(f"{path}: fps: a folder of frames needs the scenario's fps")
        fps = sc.fps
    else:
        cap = cv2.VideoCapture(str(clip))
        try:
            if not cap.isOpened():
                raise ConfigError(f"{path}: clip: cannot open {clip} as a video")
            frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
            native = cap.get(cv2.CAP_PROP_FPS)
        finally:
            cap.release()
        fps = sc.fps or (native if native and native > 0 else 10.0)
        if fps < MIN_FPS:
            raise ConfigError(f"{path}: clip: {clip} plays at {fps:g} fps, below {MIN_FPS:g}: "
                              "give the scenario an fps")
    if sc.truth.kind == "mot" and sc.fps is None:
        raise ConfigError(f"{path}: fps: mot truth needs a folder of frames with fps")
    if frames / fps > MAX_CLIP_S:
        raise ConfigError(f"{path}: fps: {frames} frames at {fps:g} fps last "
                          f"{frames / fps / 3600:.1f} h, more than {MAX_CLIP_S / 3600:g} h")
    sc._clip_s = frames / fps


def _check_truth(sc: Scenario, path: Path) -> None:
    """The truth file is read once here, so a broken one is a one-line error, not a traceback
    halfway through a run."""
    import csv

    from edge.decision.zones import Zone
    from edge.runtime.frames import CameraError

    truth = sc.truth_path
    if not truth.is_file():
        raise ConfigError(f"{path}: truth: {truth} does not exist")
    try:
        load_truth(sc, Zone(sc.zone))
    except (ValueError, IndexError, KeyError, TypeError, OSError, csv.Error, CameraError,
            AttributeError) as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ConfigError(f"{path}: truth: {truth.name}: cannot be read: {detail}") from None


def load_truth(sc: Scenario, zone: Zone) -> Truth:
    """The scenario's truth, read in the form its ``truth.kind`` names."""
    import cv2

    from edge.runtime.camera import frame_files
    from sim.truth import read_frames, read_mot, read_presence

    spec = sc.truth
    if spec.kind == "presence":
        return read_presence(sc.truth_path, spec.tolerance_s)
    if spec.kind == "frames":
        return read_frames(sc.truth_path, spec.tolerance_s)
    files = frame_files(sc.clip_path)
    h, w = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape[:2]
    assert sc.fps is not None, "mot truth needs a folder of frames with fps"
    return read_mot(sc.truth_path, spec.tolerance_s, zone, (w, h), sc.fps,
                    set(range(1, len(files) + 1)))
