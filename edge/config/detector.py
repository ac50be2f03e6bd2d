"""The detector's section: back-end, model, thresholds, crop, tiles, enhancement, profiles and
ONNX Runtime's providers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from detector.registry import Backend
from detector.settings import EnhanceMethod, EnhanceMode, Kernels, OnnxProvider, OnnxSettings
from edge.config.base import REPO_ROOT, Fraction, Section, state_dir

# the back-ends are the detector registry's one list: detector.backend is that enum
DetectorBackend = Backend
# ONNX Runtime's providers in order of preference, when the config names none
DEFAULT_PROVIDERS = (OnnxProvider.TENSORRT, OnnxProvider.CUDA, OnnxProvider.CPU)


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


