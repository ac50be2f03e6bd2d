"""Sections about the stop and what counts as waiting there: its id, zone, tracker, static
things, dwell, operating hours and privacy."""

from __future__ import annotations

from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from edge.config.base import NonNegSeconds, Polygon, Section

# a stop id is one MQTT topic level and a column of the fleet's history: the fleet's list of
# known stops and its database take it from here
STOP_ID_CHARS = r"[A-Za-z0-9_-]+"
STOP_ID_MAX = 64


class StopConfig(Section):
    """Which stop this box serves."""

    id: str = Field(
        "stop-0001", min_length=1, max_length=STOP_ID_MAX, pattern=f"^{STOP_ID_CHARS}$",
        description="Stop id: letters, digits, '-' and '_' (used in MQTT topics).",
    )
    name: str = Field("", max_length=200, description="Human-readable name of the stop.")


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
        600.0, description="Still this long (summed over the times its place was seen, gaps "
        "up to grace_s counted, longer ones taken away at decay): a static object. On the "
        "shared footage a person standing at a table is as unchanged as a pasted picture for "
        "the whole of their stay (up to 23 s; docs/detectors.md), so only time tells them "
        "apart: minutes, far above any measured still spell.",
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


class PrivacyConfig(Section):
    """What may leave the box. Nothing is recorded; frames leave only on request."""

    snapshots: bool = Field(
        False, description="Allow maintenance snapshots over MQTT (people are blurred)."
    )
    local_snapshots: bool = Field(
        True, description="Allow `stopsafe snapshot` and `stopsafe commission`, run by the "
        "installer on the box itself, to write an unblurred picture to a file they are given.",
    )


