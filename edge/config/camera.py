"""Sections about the camera: where frames come from, picture health, adaptive rate."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.config.base import Fraction, NonNegSeconds, Section


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


