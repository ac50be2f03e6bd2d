"""The daemon's configuration: one pydantic model per concern under one root, loaded from YAML.

A bad file stops start-up with exit status 78 (EX_CONFIG) and one line naming the file and the
field, before any pin or camera is touched.
"""

from __future__ import annotations

import os
from datetime import time as dtime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from detector.enhance import EnhanceMethod, EnhanceMode
from detector.settings import DEFAULT_PROVIDERS, Kernels, OnnxProvider, OnnxSettings
from edge.decision.light_rules import FailState

EX_CONFIG = 78
REPO_ROOT = Path(__file__).resolve().parent.parent
PIN_FACTORY_ENV = "GPIOZERO_PIN_FACTORY"

NonNegSeconds = Annotated[float, Field(ge=0.0, le=86400.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Section(BaseModel):
    """Base of every section: unknown keys are refused, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CameraConfig(Section):
    """Where frames come from and how often one is processed."""

    source: str = Field(
        "/dev/video0",
        title="Camera source",
        description="A V4L2 device (/dev/video0 or its index '0'), an rtsp:// or http(s):// URL, "
        "a video file, or a folder of frames taken in name order.",
        min_length=1,
    )
    fps: float = Field(
        5.0, gt=0.0, le=60.0, title="Processing rate",
        description="Frames processed a second; a live source's extra frames are dropped.",
    )
    width: int | None = Field(None, ge=64, le=7680, description="Requested capture width (px).")
    height: int | None = Field(None, ge=48, le=4320, description="Requested capture height (px).")
    reconnect_min_s: NonNegSeconds = Field(
        1.0, description="First wait before reopening a camera that failed to deliver a frame."
    )
    reconnect_max_s: NonNegSeconds = Field(
        30.0, description="Longest wait between reopen attempts (the wait doubles up to this)."
    )
    timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = Field(
        2.0, description="A live camera that delivers no frame for this long counts as lost "
        "for that moment (the fail-safe clock runs; see failsafe.after_s).",
    )


class AdaptiveConfig(Section):
    """Adaptive processing rate: the detector runs rarely while the stop is empty and still."""

    enabled: bool = Field(
        True, description="Run the detector at idle_fps while nobody is near the zone and "
        "nothing moves, at camera.fps while someone arrives, and at watch_fps while everyone "
        "present is waiting.",
    )
    idle_fps: float = Field(
        0.5, gt=0.0, le=60.0, description="Detector runs a second while the stop is empty "
        "and still: a safety net for arrivals the motion measure misses.",
    )
    watch_fps: float = Field(
        0.4, gt=0.0, le=60.0, description="Detector runs a second while everyone present is "
        "waiting. A person not found at such a run sends the rate back to full, and motion "
        "outside the known people (someone arriving or walking off) does too.",
    )
    motion_fraction: Fraction = Field(
        0.002, description="Share of the watched pixels that must change between frames to "
        "count as motion.",
    )
    motion_margin: Fraction = Field(
        0.1, description="Margin around the zone's bounding box that is watched for motion, "
        "as a fraction of the frame.",
    )
    after_change_s: Annotated[float, Field(ge=0.0, le=60.0)] = Field(
        3.0, description="After any change in the watched area (motion, or a difference from "
        "the picture the detector last looked at) the detector keeps running at camera.fps for "
        "this long: a person who steps in and then stands still, in a dark doorway say, is "
        "looked at closely until found.",
    )
    looks_per_dwell: Annotated[int, Field(ge=1, le=30)] = Field(
        3, description="At the idle rate the detector still looks at least this many times "
        "during one waiting.dwell_s, so a person nobody saw arrive is found well inside the dwell.",
    )


class DetectorBackend(str, Enum):
    SSD = "ssd"
    YOLOX = "yolox"
    YOLOX_ONNX = "yolox_onnx"


def state_dir() -> Path:
    """Where the daemon keeps what it makes (the outbox, TensorRT's engines):
    ``$STATE_DIRECTORY`` (systemd's StateDirectory=), else ~/.local/state/stopsafe."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) if state else (
        Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "stopsafe"
    )


class OnnxConfig(Section):
    """How the ONNX Runtime back-ends (``yolox_onnx``) run the model."""

    providers: list[OnnxProvider] = Field(
        list(DEFAULT_PROVIDERS), min_length=1, max_length=3,
        description="Execution providers in order of preference: 'tensorrt', 'cuda', 'cpu'. "
        "Those this onnxruntime build lacks are left out with one warning at start (the CPU "
        "provider is the last resort); the ones used are logged at start and shown by "
        "selftest, bench and telemetry.",
    )
    tensorrt_fp16: bool = Field(
        True, description="Let TensorRT build its engine in FP16 (a Jetson's GPU runs it "
        "several times faster than FP32).",
    )
    engine_cache: Path | None = Field(
        None, description="Folder for TensorRT's built engines (minutes to build on a Jetson, "
        "so kept between starts). None: 'tensorrt' in the state directory "
        "($STATE_DIRECTORY, else ~/.local/state/stopsafe).",
    )

    def settings(self) -> OnnxSettings:
        return OnnxSettings(providers=tuple(dict.fromkeys(self.providers)),
                            tensorrt_fp16=self.tensorrt_fp16,
                            engine_cache=self.engine_cache or state_dir() / "tensorrt")


def _off_is_false(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``off`` as false: take it as the mode 'off'."""
    return "off" if value is False else value


YOLOX_NANO = "yolox_nano_fp16.tflite"


class ProfileConfig(Section):
    """Settings that replace the detector's own in one situation (a wide region, a dark frame).

    Every key left out keeps the detector's value, so ``night: {score_threshold: 0.4}`` only
    lowers the threshold at night, and ``night: null`` turns the night profile off.
    """

    backend: DetectorBackend | None = Field(None, description="Back-end plugin.")
    model: str | None = Field(None, min_length=1, description="Model file (models/manifest.yaml).")
    score_threshold: Fraction | None = Field(
        None, description="Confirming threshold: a box at or above it is a person.")
    score_floor: Fraction | None = Field(
        None, description="Lowest score handed to the tracker (see detector.score_floor).")
    tiling: bool | None = Field(None, description="Tiled inference (see detector.tiling).")
    tile_scale: Annotated[float, Field(ge=1.0, le=8.0)] | None = Field(
        None, description="Tile side, in model input sides (see detector.tile_scale)."
    )
    enhance: EnhanceMode | None = Field(None, description="Low-light enhancement mode.")
    enhance_method: EnhanceMethod | None = Field(None, description="Enhancement method.")

    _enhance_off = field_validator("enhance", mode="before")(_off_is_false)


def _wide_default() -> ProfileConfig:
    return ProfileConfig(backend=DetectorBackend.YOLOX, model=YOLOX_NANO, tiling=True)


def _night_default() -> ProfileConfig:
    return ProfileConfig(backend=DetectorBackend.YOLOX, model=YOLOX_NANO, tiling=True,
                         score_threshold=0.4, score_floor=0.25)


class DetectorConfig(Section):
    """The person detector: which model, where it lives, its thresholds, and how it looks at
    the zone (crop, tiles, low-light enhancement, a night profile)."""

    backend: DetectorBackend = Field(
        DetectorBackend.SSD, description="Back-end plugin: 'ssd' (TFLite_Detection_PostProcess "
        "models), 'yolox' (raw YOLOX heads on LiteRT) or 'yolox_onnx' (the same on ONNX "
        "Runtime, for a GPU: yolox_nano.onnx; needs the [onnx] extra).",
    )
    model: str = Field(
        "ssd_mobilenet_v1_coco_quant.tflite", min_length=1,
        description="Model file name, as listed in models/manifest.yaml.",
    )
    models_dir: Path = Field(
        REPO_ROOT / "models",
        description="Folder holding the model files (fill it with `stopsafe models fetch`).",
    )
    score_threshold: Fraction = Field(
        0.5, description="Confirming threshold: a box scoring at least this is a person, and a "
        "new track counts as one only when most of its last three boxes reach it (Frigate's "
        "median of three).",
    )
    score_floor: Fraction = Field(
        0.3, description="Boxes from this score up to score_threshold go to the tracker only: "
        "they may carry on a track that was confirmed by strong boxes (a still person whose "
        "score sags), never start one (ByteTrack's second association); one standing near the "
        "zone also sends the adaptive rate to full, and the tiles keep looking where one was. "
        "Equal to "
        "score_threshold: no low boxes.",
    )
    nms_iou: Fraction = Field(0.5, description="IoU above which overlapping boxes are merged.")
    min_box_height: Fraction = Field(
        0.04, description="Smallest person box kept, as a fraction of the frame's height."
    )
    max_box_height: Fraction = Field(
        1.0, description="Largest person box kept, as a fraction of the frame's height."
    )
    max_box_area: Fraction = Field(
        0.8, description="Largest person box kept, as a fraction of the frame's area."
    )
    threads: Annotated[int, Field(ge=1, le=16)] | Literal["auto"] = Field(
        "auto", description="Interpreter CPU threads; 'auto' uses one a core, at most 4 "
        "(measured: 2 threads take 0.57x the time of 1 on 2 cores).",
    )

    kernels: Kernels = Field(
        Kernels.XNNPACK, description="LiteRT kernels for the TFLite models: 'xnnpack' (the "
        "default delegate; fastest), 'builtin' (TFLite's own optimised kernels) or 'reference' "
        "(TFLite's reference kernels: the only ones whose results are the same on x86 and ARM, "
        "bit for bit, at many times the time; for `make arm64`, not for a box). See the "
        "README's arm64 section.",
    )

    onnx: OnnxConfig = Field(
        default_factory=OnnxConfig, description="ONNX Runtime's providers (yolox_onnx only); "
        "its intra-op threads are detector.threads.",
    )

    @property
    def thread_count(self) -> int:
        if self.threads == "auto":
            return max(1, min(4, os.cpu_count() or 1))
        return int(self.threads)
    crop_to_zone: bool = Field(
        True, description="Run the detector on the zone's bounding box plus margins instead of "
        "the whole frame, when that box is clearly smaller (see crop_max_area): far people are "
        "seen at a higher resolution and each frame costs less.",
    )
    crop_margin: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        0.05, description="Margin added on every side of the zone's box, as a fraction of the "
        "frame's width and height.",
    )
    crop_head_room: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.35, description="Extra room above the zone's box, as a fraction of the frame's "
        "height: the zone is where people stand, their bodies are above it.",
    )
    crop_max_area: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.5, description="Crop only when the crop covers at most this fraction of the frame.",
    )
    tiling: bool = Field(
        False, description="Tiled inference: when the region is larger than one tile, run the "
        "model on overlapping tiles and merge the boxes (finds small, distant people; costs one "
        "model run per tile).",
    )
    tile_scale: Annotated[float, Field(ge=1.0, le=8.0)] = Field(
        2.0, description="Tile side in frame pixels, as a multiple of the model's input side; "
        "1 runs the model at the frame's own scale, larger values mean fewer, coarser tiles.",
    )
    tile_overlap: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        0.25, description="Overlap of neighbouring tiles, as a fraction of a tile's side; keep it "
        "wider than a person so that everyone is whole in some tile.",
    )
    tile_full_pass: bool = Field(
        True, description="When tiling, also run once on the whole region, so that people "
        "bigger than a tile are found too (one model run more).",
    )
    tile_attention: bool = Field(
        True, description="When tiling, run only the tiles where people can be: where something "
        "was found lately, where the picture changed since a tile last looked, and a sweep of "
        "tile_sweep more tiles a frame, longest unlooked first (the whole-region pass still runs "
        "every frame). Off: every tile on every frame.",
    )
    tile_sweep: Annotated[int, Field(ge=1, le=64)] = Field(
        1, description="With tile_attention: tiles of the rest looked at per frame, round robin.",
    )
    enhance: EnhanceMode = Field(
        EnhanceMode.DARK, description="Low-light enhancement of the luma before the "
        "detector: 'off', 'dark' (only on dark frames) or 'always'.",
    )
    _enhance_off = field_validator("enhance", mode="before")(_off_is_false)
    enhance_method: EnhanceMethod = Field(
        EnhanceMethod.GAMMA, description="'gamma' (a curve that lifts the shadows) or 'clahe' "
        "(local histogram equalisation).",
    )
    enhance_gamma: Annotated[float, Field(ge=0.2, le=1.0)] = Field(
        0.5, description="Gamma of the 'gamma' method: below 1 brightens dark parts more.",
    )
    enhance_clip_limit: Annotated[float, Field(ge=1.0, le=10.0)] = Field(
        2.0, description="Clip limit of the 'clahe' method: higher boosts contrast (and noise).",
    )
    dark_below: Fraction = Field(
        0.3, description="A frame is dark when the mean luma of the detector's region is below "
        "this (0 black .. 1 white); it is light again above this plus 0.03.",
    )
    wide_above_px: int = Field(
        960, ge=64, le=16384, description="A region (the crop, or the whole frame) whose longer "
        "side has more pixels than this is 'wide': its people are small at the model's input "
        "size, and the 'wide' settings apply.",
    )
    wide: ProfileConfig | None = Field(
        default_factory=_wide_default, description="Settings for a wide region (null: the "
        "detector's own). Default: YOLOX-nano on tiles, which finds small people the SSD misses.",
    )
    night: ProfileConfig | None = Field(
        default_factory=_night_default, description="Settings for dark frames, whatever the "
        "region's size (null: the same as by day). Default: YOLOX-nano on tiles at a lower "
        "threshold, since people in the dark score lower.",
    )
    verify_hash: bool = Field(
        True, description="Check the model's sha256 against the manifest before loading it."
    )

    @property
    def model_path(self) -> Path:
        return self.models_dir / self.model


Point = tuple[Fraction, Fraction]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]


def check_zone_polygon(polygon: list[tuple[float, float]], name: str) -> None:
    """A zone must be one simple polygon with an area (config and scenario files alike)."""
    import cv2
    import numpy as np

    from edge.decision.zones import self_intersection

    pts = np.asarray(polygon, np.float64)
    if np.linalg.matrix_rank(pts - pts[0], tol=1e-12) < 2:
        raise ValueError(f"{name} has no area (its points are in a line)")
    crossing = self_intersection(polygon)
    if crossing is not None:
        i, j = crossing
        n = len(polygon)
        raise ValueError(f"{name} is self-intersecting: edge {i} (points {i}-{(i + 1) % n}) "
                         f"meets edge {j} (points {j}-{(j + 1) % n}); draw its outline once, "
                         "without crossing")
    if abs(cv2.contourArea(np.asarray(polygon, np.float32))) <= 0.0:
        raise ValueError(f"{name} has no area (its points are in a line)")


class ZoneConfig(Section):
    """The waiting area, as a polygon in fractions of the frame, and masks inside it."""

    polygon: Polygon = Field(
        [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
        description="Points [x, y], each 0..1 of the frame's width and height. A person is in "
        "the zone when the bottom-centre of their box (where they stand) is inside.",
    )
    masks: list[Polygon] = Field(
        [], max_length=32,
        description="Polygons (points as for polygon) in which detections never count: a "
        "detection whose standing point is inside a mask is dropped before tracking. Draw them "
        "round a poster of a person, a glass door's reflections, a statue; a real person in "
        "front of a poster stands below it, on the floor, and still counts.",
    )


class TrackerConfig(Section):
    """How detections become people that keep their identity from frame to frame."""

    max_missed_s: NonNegSeconds = Field(
        2.0, description="How long a person who is not detected is kept (standing people "
        "flicker in and out of detection; this bridges it).",
    )
    match_distance: Annotated[float, Field(gt=0.0, le=5.0)] = Field(
        1.0, description="Largest jump of the standing point between frames, in box heights, "
        "for a detection to continue a track.",
    )
    confirm_hits: int = Field(
        2, ge=1, le=30, description="Detections a new track needs before it counts as a person."
    )


class StaticConfig(Section):
    """Things that stand still for ever: a person-shaped box (a hydrant, a bin, a poster)
    whose place and picture do not change stops counting as a waiting person and raises the
    static_object fault with its box, until it moves or goes."""

    enabled: bool = Field(True, description="Apply the rule.")
    after_s: Annotated[float, Field(gt=0.0, le=86400.0)] = Field(
        600.0, description="Unchanged this long: a static object. On the shared footage a "
        "person standing at a table is as unchanged as a pasted picture for the whole of their "
        "stay (up to 21 s; docs/detectors.md), so only time tells them apart: minutes, far "
        "above any measured still spell, and a found object is remembered when re-found.",
    )
    box_tolerance: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.05, description="Largest move of any edge of the box from where it was, in box "
        "heights, that still counts as unchanged.",
    )
    picture_tolerance: Annotated[float, Field(gt=0.0, le=2.0)] = Field(
        0.25, description="Largest mean difference of the box's contrast-normalised 8x16 grey "
        "thumbnail from what it was, that still counts as unchanged.",
    )
    grace_s: Annotated[float, Field(ge=0.0, le=600.0)] = Field(
        3.0, description="A place unseen for up to this long is still counted as still (a car "
        "driving past, the night model drawing the box a little differently for a moment).",
    )
    decay: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        2.0, description="Stillness a place loses for every second it is unseen beyond grace_s "
        "(something passing in front, or it went). Above 1 a place must be seen longer than it "
        "is hidden to add up: a person returning to the same two poses in turn never does.",
    )
    remember: bool = Field(
        True, description="Keep the places found static in a small file (their boxes and "
        "thumbnails) and find them again at once after a restart, until they move or go.",
    )
    state_file: Path | None = Field(
        None, description="That file. None: static-<stop.id>.json in the state directory "
        "($STATE_DIRECTORY, else ~/.local/state/stopsafe) for the daemon; the simulator keeps "
        "no file unless one is set here.",
    )


class WaitingConfig(Section):
    """When a person in the zone counts as waiting."""

    dwell_s: NonNegSeconds = Field(
        3.0, description="Time in the zone before a person counts as waiting; people passing "
        "through faster never light the stop.",
    )
    leave_grace_s: NonNegSeconds = Field(
        1.0, description="A waiting person may step over the zone's edge this long without "
        "their stay (and dwell) starting over.",
    )


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


class HealthConfig(Section):
    """Picture health: faults for a frozen, black (covered) or badly blurred camera. While one
    is active the light follows failsafe.fail_state."""

    enabled: bool = Field(True, description="Check every frame's picture (costs about 0.3 ms).")
    frozen_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        10.0, description="The very same picture this long raises camera_frozen.")
    black_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        3.0, description="A black picture this long raises camera_black (lens covered).")
    blur_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        5.0, description="A badly blurred picture this long raises camera_blurred.")
    black_level: Annotated[float, Field(ge=0.0, le=255.0)] = Field(
        12.0, description="Mean grey level (0..255) below which, with almost no contrast, the "
        "picture counts as black.")
    blur_ratio: Fraction = Field(
        0.2, description="Sharpness (variance of the Laplacian) below this share of the "
        "scene's own learnt sharpness counts as blurred.")


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

    @field_validator("fail_state", mode="before")
    @classmethod
    def _yaml_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML 1.1 reads an unquoted on/off as true/false
            return FailState.ON if value else FailState.OFF
        return value


class Window(Section):
    """One daily window of operating hours; an end before the start runs past midnight."""

    start: dtime = Field(description="Local time the window opens (HH:MM).")
    end: dtime = Field(description="Local time the window closes (HH:MM).")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        min_length=1, description="Days on which the window opens.",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 05:30 as the number 330
            raise ValueError("write times in quotes, e.g. '05:30'")
        return value


class ScheduleConfig(Section):
    """Operating hours: outside them the light stays off."""

    windows: list[Window] = Field(
        [], description="Daily windows; an empty list means always in operation."
    )


class LogFormat(str, Enum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class LoggingConfig(Section):
    """Structured logs."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level.")
    format: LogFormat = Field(
        LogFormat.AUTO, description="'auto': key=value on a terminal, JSON lines otherwise."
    )


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
        None, max_length=2000, pattern=r"^https?://\S+$",
        description="Link shown on the stop's device page in Home Assistant (e.g. the fleet "
        "console or the stop's record); none by default.",
    )
    support_url: str | None = Field(
        None, max_length=2000, pattern=r"^https?://\S+$",
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


class PrivacyConfig(Section):
    """What may leave the box. Nothing is recorded; frames leave only on request."""

    snapshots: bool = Field(
        False, description="Allow maintenance snapshots over MQTT (people are blurred)."
    )
    local_snapshots: bool = Field(
        True, description="Allow `stopsafe snapshot` and `stopsafe commission`, run by the "
        "installer on the box itself, to write an unblurred picture to a file they are given.",
    )


class StopConfig(Section):
    """Which stop this box serves."""

    id: str = Field(
        "stop-0001", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="Stop id: letters, digits, '-' and '_' (used in MQTT topics).",
    )
    name: str = Field("", max_length=200, description="Human-readable name of the stop.")


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


class ConfigError(Exception):
    """A configuration that cannot be used; ``str()`` is the one line for the operator."""

    exit_code = EX_CONFIG


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = str(part) if str(part).isidentifier() else repr(part)  # odd keys, quoted
        out += f".{name}" if out else name
    return out


def _describe(path: Path, exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = _field_path(first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"

    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return " ".join(f"{path}: {field}: {msg}{tail}".splitlines())


def parse_config(data: Any, source: Path | str = "<config>") -> Config:
    """Validate an already-parsed YAML document."""
    path = Path(source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of sections")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None


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
    path = Path(path)
    data = read_document(path)
    try:
        return parse_config(data, path)
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise ConfigError(f"{path}: (top level): cannot be checked: {type(exc).__name__}"
                          ) from None


def pin_factory_name(light: LightConfig) -> str | None:
    """The gpiozero pin factory to use: the config's, else the environment's, else gpiozero's."""
    if light.pin_factory is not PinFactory.AUTO:
        return light.pin_factory.value
    env = os.environ.get(PIN_FACTORY_ENV, "").strip().lower()
    return env or None


