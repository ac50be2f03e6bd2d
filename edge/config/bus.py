"""The stop's bus-side sections: the arrivals feed, the light's attention pattern, the waiting
button, the camera's kerb zone and the bus-side signal (docs/bus.md)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from edge.config.base import HTTP_URL, Polygon, Section
from edge.decision.feed import FeedKind

SERVICE_KEY_ENV = "STOPSAFE_ARRIVALS_SERVICE_KEY"
TAGO_SERVICE_URL = ("https://apis.data.go.kr/1613000/ArvlInfoInqireService/"
                    "getSttnAcctoArvlPrearngeInfoList")
SEOUL_SERVICE_URL = "http://ws.bus.go.kr/api/rest/stationinfo/getStationByUid"
SERVICE_URLS = {FeedKind.TAGO: TAGO_SERVICE_URL, FeedKind.SEOUL: SEOUL_SERVICE_URL}


class ArrivalsConfig(Section):
    """An optional feed of the buses coming to this stop: each arrival becomes a 'bus' event
    (stopped or passed, anyone waiting), and a bus near while someone waits shows the light's
    attention pattern. A feed that fails raises arrivals_feed; the stop works as without it."""

    enabled: bool = Field(False, description="Poll the feed.")
    kind: FeedKind = Field(
        FeedKind.GTFS_RT, description="'gtfs_rt': GTFS-realtime VehiclePositions and/or "
        "TripUpdates (protobuf or JSON) from 'urls'; 'tago': the Korean national bus-arrival "
        "service (getSttnAcctoArvlPrearngeInfoList) for city_code and stop_id; 'seoul': "
        "Seoul's (getStationByUid) for stop_id, the stop's arsId.")
    urls: list[Annotated[str, Field(max_length=2000, pattern=HTTP_URL)]] = Field(
        [], max_length=4, description="(gtfs_rt) URLs read together each poll, e.g. the "
        "agency's VehiclePositions and TripUpdates.")
    stop_id: str | None = Field(
        None, min_length=1, max_length=100, description="This stop in the feed: the GTFS "
        "stop_id, TAGO's nodeId (e.g. CAB285000686), or Seoul's arsId (e.g. 24411).")
    city_code: str | None = Field(
        None, pattern=r"^[0-9]{1,9}$", description="(tago) the service's cityCode.")
    service_url: str | None = Field(
        None, max_length=2000, pattern=HTTP_URL,
        description="(tago, seoul) the operation's URL; null: the service's own "
        "(TAGO getSttnAcctoArvlPrearngeInfoList, Seoul stationinfo/getStationByUid).")
    service_key_file: Path | None = Field(
        None, description="(tago, seoul) file whose first line is the portal's service key "
        "(the decoded form); else $STOPSAFE_ARRIVALS_SERVICE_KEY. Never logged or published.")
    poll_s: Annotated[float, Field(ge=1.0, le=600.0)] = Field(
        20.0, description="Seconds between polls (TAGO refreshes every 10-20 s).")
    timeout_s: Annotated[float, Field(gt=0.0, le=120.0)] = Field(
        10.0, description="A poll without an answer this long has failed.")
    fault_after: int = Field(
        3, ge=1, le=1000, description="Polls failed in a row that raise arrivals_feed "
        "(cleared by the next good one).")
    near_s: Annotated[float, Field(gt=0.0, le=3600.0)] | None = Field(
        120.0, description="A bus predicted this many seconds away counts as near.")
    near_stops: int | None = Field(
        1, ge=1, le=50, description="... or this many stops away (1: ours is its next stop).")
    stale_s: Annotated[float, Field(gt=0.0, le=86400.0)] = Field(
        120.0, description="A bus the feed has said nothing about this long is forgotten "
        "(so a dead feed never keeps the attention pattern on). At least twice poll_s.")

    @model_validator(mode="after")
    def _complete(self) -> ArrivalsConfig:
        if self.stale_s < 2 * self.poll_s:
            raise ValueError("stale_s must be at least twice poll_s")
        if self.near_s is None and self.near_stops is None:
            raise ValueError("give near_s, near_stops or both")
        if not self.enabled:
            return self
        if self.stop_id is None:
            raise ValueError("an enabled feed needs stop_id")
        return self  # urls, city_code and the key are checked where the source is made


class AttentionKind(str, Enum):
    BLINK = "blink"  # the floor light's relay blinks
    OUTPUT = "output"  # a second relay (a beacon) is switched on
    OFF = "off"  # no attention pattern


class AttentionConfig(Section):
    """How the stop shows that a bus is near while someone waits (needs the arrivals feed)."""

    pattern: AttentionKind = Field(
        AttentionKind.BLINK, description="'blink' the floor light, switch a second 'output' "
        "(a beacon on 'pin'), or 'off'.")
    on_s: Annotated[float, Field(ge=0.1, le=10.0)] = Field(
        0.5, description="(blink) seconds on ...")
    off_s: Annotated[float, Field(ge=0.1, le=10.0)] = Field(
        0.5, description="(blink) ... and off, in turn.")
    pin: int | None = Field(None, ge=0, le=27, description="(output) BCM pin of the beacon.")
    active_high: bool = Field(True, description="(output) True when high means on.")

    @model_validator(mode="after")
    def _pin(self) -> AttentionConfig:
        if self.pattern is AttentionKind.OUTPUT and self.pin is None:
            raise ValueError("the 'output' pattern needs pin")
        return self


class ButtonConfig(Section):
    """An optional 'I am waiting' push button on a GPIO input."""

    pin: int | None = Field(None, ge=0, le=27, description="BCM pin; null: no button.")
    pull_up: bool = Field(
        True, description="True: the button connects the pin to ground (internal pull-up).")
    bounce_s: Annotated[float, Field(ge=0.001, le=1.0)] = Field(
        0.05, description="Contact bounce ignored after an edge.")
    for_s: Annotated[float, Field(ge=1.0, le=3600.0)] = Field(
        60.0, description="A press counts as someone waiting this long.")
    stuck_s: Annotated[float, Field(ge=1.0, le=86400.0)] = Field(
        30.0, description="Held this long: fault button_stuck, and the press ends (no light "
        "for ever); cleared when it is released.")


class KerbConfig(Section):
    """The camera's own "did the bus stop?": the detector's bus boxes in a kerb zone. With a
    polygon, every detector run also looks for buses on the whole frame (one more model run,
    unless the person pass already ran the day model on the whole, unenhanced frame)."""

    polygon: Polygon | None = Field(
        None, description="Where a bus stands when it serves the stop, points as for "
        "zone.polygon (a bus is in it when the bottom-centre of its box is); null: none.")
    bus_score: Annotated[float, Field(ge=0.05, le=1.0)] = Field(
        0.5, description="A box of the detector's bus class scored at least this is a bus.")
    stop_s: Annotated[float, Field(gt=0.0, le=600.0)] = Field(
        3.0, description="A bus whose box stays put this long has stopped.")
    still_tolerance: Annotated[float, Field(gt=0.0, le=0.5)] = Field(
        0.02, description="How far (fraction of the frame) a standing bus's box edges may "
        "move.")
    gone_s: Annotated[float, Field(gt=0.0, le=60.0)] = Field(
        1.5, description="No bus in the zone this long: it has left (stopped or passed).")
    max_hide_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        180.0, description="While a bus is in the zone the people behind it are kept as "
        "they were, for at most this long.")
    match_s: Annotated[float, Field(gt=0.0, le=1800.0)] = Field(
        60.0, description="With an arrivals feed too: a feed arrival and a kerb visit this "
        "close in time are one bus (one event); each report waits this long for the other.")


class BusSignalConfig(Section):
    """Telling the bus side that someone waits: the retained MQTT 'waiting/json' topic (with
    mqtt.enabled) and, optionally, a POST of the same JSON to a URL (docs/bus.md)."""

    webhook_url: str | None = Field(
        None, max_length=2000, pattern=HTTP_URL, description="POST every change of the "
        "waiting JSON here (a bus information system, a driver-terminal gateway); null: none.")
    timeout_s: Annotated[float, Field(gt=0.0, le=120.0)] = Field(
        5.0, description="A POST without an answer this long has failed (retried).")
    max_queue: int = Field(
        1000, ge=1, le=1_000_000, description="Changes kept while the URL fails; beyond "
        "this the oldest is dropped and counted.")
    retry_min_s: Annotated[float, Field(gt=0.0, le=600.0)] = Field(
        1.0, description="First wait after a failed POST (it doubles) ...")
    retry_max_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        60.0, description="... up to this.")
    outbox_path: Path | None = Field(
        None, description="SQLite file of the changes not yet taken; None: the state "
        "directory's webhook-<stop id>.sqlite. ':memory:' keeps no file.")
