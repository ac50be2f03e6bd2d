"""The arrivals adapters on every real recorded feed in shared/feeds, the bus tracker on them,
and ``stopsafe arrivals``."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.arrivals import gtfs_rt, tago
from edge.arrivals.build import bus_settings
from edge.arrivals.gtfs_rt import FeedError
from edge.arrivals.source import replay_folder
from edge.config import ArrivalsConfig
from edge.decision.buses import BusSettings, BusTracker
from edge.decision.feed import Observation, Relation, Snapshot
from edge.wire import BusOutcome
from tests.conftest import SHARED

FEEDS = SHARED / "feeds"
DEFAULTS = bus_settings(ArrivalsConfig())  # the config's defaults
NYC = "A1-nyct-subway-series/raw_10s_series"
GTFS_SAMPLES = [NYC, "A3-wmata-bus-tripupdates/raw", "A5-usf-bus-positions/raw",
                "A2-soundtransit-json/raw"]


@pytest.fixture(scope="module")
def feeds() -> Path:
    if not FEEDS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared feeds not found at {FEEDS}")
        pytest.skip(f"shared feeds not found at {FEEDS}")
    return FEEDS


def _raw(path: Path) -> rt.FeedMessage:
    """Read independently of the adapter (protobuf, or the bindings' own JSON parser)."""
    from google.protobuf import json_format

    msg = rt.FeedMessage()
    if path.suffix == ".json":
        json_format.Parse(path.read_text(), msg, ignore_unknown_fields=True)
    else:
        msg.ParseFromString(path.read_bytes())
    return msg


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".pb", ".json"))


@pytest.mark.parametrize("sample", GTFS_SAMPLES)
def test_every_gtfs_sample_is_read_and_each_stop_report_kept(feeds, sample):
    """Every VehiclePosition at a stop is that stop's AT_STOP or APPROACHING observation, every
    TripUpdate listing a stop has it ahead, for every real file."""
    files = _files(feeds / sample)
    assert files
    for path in files:
        raw = _raw(path)
        msg = gtfs_rt.parse_message(path.read_bytes())
        assert msg.header.timestamp == raw.header.timestamp
        stops: dict[str, set[str]] = defaultdict(set)  # stop -> trips reported at/to it
        vehicles = set()
        for e in raw.entity:
            if e.HasField("vehicle"):
                v = e.vehicle
                vehicles.add(v.trip.trip_id or v.vehicle.id)  # one entry a trip
                if v.stop_id:
                    stops[v.stop_id].add(v.trip.trip_id or v.vehicle.id)
            if e.HasField("trip_update"):
                vehicles.add(e.trip_update.trip.trip_id)
                for u in e.trip_update.stop_time_update[-1:]:  # the last stop is still ahead
                    stops[u.stop_id].add(e.trip_update.trip.trip_id)
        whole = gtfs_rt.snapshot([msg], "no-such-stop")
        assert len(whole.observations) == len(vehicles), path.name
        assert not whole.related()
        for stop, trips in list(stops.items())[:40]:
            snap = gtfs_rt.snapshot([msg], stop)
            got = {o.trip_id or o.vehicle_id for o in snap.related()}
            assert trips <= got, (path.name, stop, trips - got)


def test_usf_positions_without_status_say_nothing_about_stopping(feeds):
    msg = gtfs_rt.parse_message(
        (feeds / "A5-usf-bus-positions/raw/bullrunner-vehicle-positions.pb").read_bytes())
    snap = gtfs_rt.snapshot([msg], "1")
    assert len(snap.observations) == 10
    assert {o.relation for o in snap.observations} == {Relation.ELSEWHERE}
    assert {o.vehicle_id for o in snap.observations} == {e.vehicle.vehicle.id
                                                        for e in msg.entity}


def test_nyc_series_reports_trains_approaching_then_stopping_in_snapshot_order(feeds):
    """Replayed, the series gives each train that reached the chosen stop once, stopped, in the
    order the raw snapshots first show it STOPPED_AT the stop, and near before that."""
    folder = feeds / NYC
    raws = sorted((_raw(p) for p in _files(folder)), key=lambda m: m.header.timestamp)
    # the stops where some train comes to a stop during the series (read from the raw files)
    first_stop: dict[str, dict[str, int]] = defaultdict(dict)  # stop -> trip -> snapshot time
    listed: dict[str, dict[str, int]] = defaultdict(dict)  # stop -> trip -> first listed ahead
    for m in raws:
        for e in m.entity:
            v = e.vehicle
            if e.HasField("vehicle") and v.stop_id and (
                    v.current_status == rt.VehiclePosition.STOPPED_AT):
                first_stop[v.stop_id].setdefault(v.trip.trip_id, m.header.timestamp)
            for u in e.trip_update.stop_time_update:
                listed[u.stop_id].setdefault(e.trip_update.trip.trip_id, m.header.timestamp)
    before = {s: {t for t, at in trips.items() if listed[s].get(t, at) < at}
              for s, trips in first_stop.items()}  # coming, then stopped, within the series
    chosen = [s for s, trips in first_stop.items()
              if len([t for t in trips if t in before[s]]) >= 2]
    assert len(chosen) >= 5
    for stop in chosen:
        snaps = replay_folder(folder, stop)
        assert [s.at for s in snaps] == [m.header.timestamp for m in raws]
        tracker = BusTracker(BusSettings(near_s=600.0, near_stops=3, stale_s=1e9))
        reached = []
        for s in snaps:
            reached += tracker.observe(s, s.at).reached
        arriving = [t for t, _ in sorted(first_stop[stop].items(), key=lambda kv: kv[1])
                    if t in before[stop]]  # came during the series (not at it at the start)
        got = [a.trip_id for a in reached if a.trip_id in arriving]
        assert got == arriving, stop
        for a in reached:
            assert a.stopped_from is not None and a.approached_at <= first_stop[stop][a.trip_id]


def test_soundtransit_follow_incoming_then_stopped(feeds, tmp_path):
    """FOLLOW.md: trip 2062 INCOMING_AT 99610 at 17:44:58, STOPPED_AT at 17:46:38 with the
    vehicle's own time 17:45:45."""
    for t in (1683740698, 1683740798):
        for kind in ("vehicle_position", "trip_update"):
            shutil.copy(feeds / f"A2-soundtransit-json/raw/{kind}_{t}.json", tmp_path)
    snaps = replay_folder(tmp_path, "99610")
    assert len(snaps) == 2  # positions and trip updates of one moment are one snapshot
    tracker = BusTracker(DEFAULTS)
    first = tracker.observe(snaps[0], 0.0)
    trip = "LLR_2023-03-18_Weekday_100479_2062"
    assert trip in {a.trip_id for a in tracker.approaching()} and not first.reached
    second = tracker.observe(snaps[1], 100.0)
    (a,) = [a for a in second.reached if a.trip_id == trip]
    assert a.stopped_from == 1683740745 and a.approached_at == 1683740698


def test_tago_real_answer(feeds):
    path = feeds / "B-korea-arrivals/B2_tago_koin/raw"
    (f,) = list(path.iterdir())
    raw = json.loads(f.read_text())["response"]["body"]["items"]["item"]
    snap = tago.parse(f.read_bytes(), "CAB285000686", at=1000.0)
    assert snap.at == 1000.0 and len(snap.observations) == len(raw) == 4
    by_route = {o.route_id: o for o in snap.observations}
    for item in raw:
        o = by_route[item["routeid"]]
        assert (o.eta_s, o.stops_away) == (item["arrtime"], item["arrprevstationcnt"])
        assert o.relation is Relation.APPROACHING and not o.identity
    assert [o.eta_s for o in snap.observations] == sorted(i["arrtime"] for i in raw)
    assert not tago.parse(f.read_bytes(), "ANOTHER", at=0.0).observations


SEOUL = "B-korea-arrivals/B1_seoul_bbus/raw"


def test_seoul_real_answers_json_and_xml(feeds):
    from edge.arrivals import seoul

    raw = json.loads((feeds / SEOUL / "getStationByUid_123000624_DummyJsonStringStationByUid"
                      "ItemDTO.json").read_text())["msgBody"]["itemList"]
    body = (feeds / SEOUL / "getStationByUid_123000624_DummyJsonStringStationByUidItemDTO.json"
            ).read_bytes()
    snap = seoul.parse(body, "24411", at=5.0)  # the stop's arsId
    running = [(i["busRouteId"], n) for i in raw for n in (1, 2)
               if i[f"arrmsg{n}"] not in ("운행종료", "출발대기")]
    assert len(snap.observations) == len(running) == 3
    by = {(o.route_id, o.key): o for o in snap.observations}
    first = by[("100100496", "100100496#1")]  # no vehicle id: "2분20초후[1번째 전]"
    assert (first.eta_s, first.stops_away, first.identity) == (140.0, 1, False)
    assert by[("100100496", "100100496#2")].stops_away == 3
    bus = by[("227000035", "227000164")]  # "곧 도착" with its vehicle, 5 s
    assert (bus.vehicle_id, bus.eta_s, bus.stops_away, bus.identity) == (
        "227000164", 5.0, 1, True)
    assert seoul.parse(body, "123000624", 5.0).observations  # by stId too
    xml = (feeds / SEOUL / "getArrInfoByRoute_XMLParseExample.xml").read_bytes()
    snap = seoul.parse(xml, "23278", 5.0)
    assert sorted((o.vehicle_id, o.eta_s, o.stops_away) for o in snap.observations) == [
        ("104010107", 770.0, 4), ("104011173", 438.0, 2)]  # the item, repeated 3 times
    item = json.loads((feeds / SEOUL / "getArrInfoByRoute_item_subset_MOCKArrInfo.json"
                       ).read_text())
    obs = seoul.observations_of(item, "x")
    assert [(o.vehicle_id, o.stops_away, o.eta_s) for o in obs] == [
        ("117020066", 1, 0.0), ("117020207", 3, 429.0)]


def test_seoul_bus_at_the_stop_and_errors():
    from edge.arrivals import seoul

    doc = {"msgHeader": {"headerCd": "0"}, "msgBody": {"itemList": {
        "arsId": "1", "busRouteId": "R", "vehId1": "77", "arrmsg1": "곧 도착",
        "isArrive1": "1", "traTime1": "3", "arrmsg2": "운행종료"}}}
    (o,) = seoul.parse(json.dumps(doc).encode(), "1", 0.0).observations
    assert (o.relation, o.vehicle_id, o.stops_away) == (Relation.AT_STOP, "77", 0)
    bad = {"msgHeader": {"headerCd": "7", "headerMsg": "인증 실패"}}
    with pytest.raises(FeedError, match="headerCd=7"):
        seoul.parse(json.dumps(bad).encode(), "1", 0.0)
    with pytest.raises(FeedError):
        seoul.parse(b"<ServiceResult><msgHeader><headerCd>4", "1", 0.0)


def _tago(items: object, code: str = "00") -> bytes:
    return json.dumps({"response": {"header": {"resultCode": code, "resultMsg": "x"},
                                     "body": {"items": items, "totalCount": 1}}}).encode()


def test_tago_shapes_and_errors():
    one = {"nodeid": "N1", "routeid": "R1", "routeno": 5, "arrtime": 70,
           "arrprevstationcnt": 2}
    assert len(tago.parse(_tago({"item": one}), "N1", 0.0).observations) == 1
    assert tago.parse(_tago(""), "N1", 0.0).observations == ()
    two = tago.parse(_tago({"item": [{**one, "arrtime": 400}, one]}), "N1", 0.0)
    assert [(o.key, o.eta_s) for o in two.observations] == [("R1#1", 70.0), ("R1#2", 400.0)]
    with pytest.raises(FeedError, match="resultCode=22"):
        tago.parse(_tago("", code="22"), "N1", 0.0)
    xml = (b"<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
           b"<returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>"
           b"<returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>")
    with pytest.raises(FeedError, match="returnReasonCode=30"):
        tago.parse(xml, "N1", 0.0)
    with pytest.raises(FeedError):
        tago.parse(b"not json", "N1", 0.0)


def test_tago_key_never_in_text():
    key = "ab+c/d=="
    url = tago.request_url("https://example.invalid/op", key, "25", "N1")
    assert key not in url and "serviceKey=" in url  # URL-encoded in the request
    assert "ab" not in tago.redact(f"HTTP 500 from {url}", key).split("serviceKey=")[1][:3]
    assert key not in tago.redact(f"raw {key}", key)


def test_not_a_feed():
    for body in (b"<html>gateway timeout</html>", b"{}", b"\x08\x96\x01garbage"):
        with pytest.raises(FeedError):
            gtfs_rt.parse_message(body)


# ---------------- the tracker on scripted snapshots ----------------
def _snap(at: float, *obs: Observation) -> Snapshot:
    return Snapshot(at=at, stop_id="S", observations=obs)


def _o(rel: Relation, stops: int | None = None, eta: float | None = None, key: str = "bus1",
       identity: bool = True) -> Observation:
    return Observation(key=key, relation=rel, trip_id="t1", route_id="R", stops_away=stops,
                       eta_s=eta, identity=identity)


def test_tracker_passed_when_next_stop_then_elsewhere():
    tr = BusTracker(BusSettings(near_s=60.0, near_stops=1, stale_s=1e9))
    assert not tr.observe(_snap(0, _o(Relation.APPROACHING, 3, 300.0)), 0.0).closed
    assert not tr.open  # not near yet
    tr.observe(_snap(20, _o(Relation.APPROACHING, 1, 40.0)), 20.0)
    assert len(tr.approaching()) == 1
    ch = tr.observe(_snap(40, _o(Relation.ELSEWHERE)), 40.0)
    (a,) = ch.closed
    assert a.outcome is BusOutcome.PASSED and a.left_at == 40
    assert [r.key for r in ch.reached] == [a.key]
    assert not tr.approaching()


def test_tracker_stopped_and_dwell():
    tr = BusTracker(DEFAULTS)
    tr.observe(_snap(0, _o(Relation.APPROACHING, 1, 30.0)), 0.0)
    ch = tr.observe(_snap(20, _o(Relation.AT_STOP, 0)), 20.0)
    assert ch.reached and not tr.approaching()
    tr.observe(_snap(40, _o(Relation.AT_STOP, 0)), 40.0)
    (a,) = tr.observe(_snap(60, _o(Relation.PAST)), 60.0).closed
    assert a.outcome is BusOutcome.STOPPED and a.dwell_s == 20.0


def test_tracker_far_elsewhere_is_not_passed_and_stale_is_dropped():
    tr = BusTracker(BusSettings(near_s=300.0, near_stops=None, stale_s=100.0))
    tr.observe(_snap(0, _o(Relation.APPROACHING, 4, 200.0)), 0.0)
    assert not tr.observe(_snap(20, _o(Relation.ELSEWHERE)), 20.0).closed
    assert tr.expire(119.0).closed == ()
    (a,) = tr.expire(120.0).closed
    assert a.outcome is BusOutcome.UNKNOWN and not a.reached and not tr.open


def test_tracker_tago_next_bus_closes_the_previous():
    tr = BusTracker(BusSettings(near_s=120.0, near_stops=1, stale_s=1e9))
    tr.observe(_snap(0, _o(Relation.APPROACHING, 1, 50.0, identity=False)), 0.0)
    ch = tr.observe(_snap(20, _o(Relation.APPROACHING, 6, 600.0, identity=False)), 20.0)
    (a,) = ch.closed
    assert a.outcome is BusOutcome.UNKNOWN and a.reached and not tr.open
    tr.observe(_snap(40, _o(Relation.APPROACHING, 1, 60.0, identity=False)), 40.0)
    (b,) = tr.observe(_snap(60), 60.0).closed  # gone from the answer right by the stop
    assert b.reached and b.outcome is BusOutcome.UNKNOWN


def test_cli_replay_json(feeds, capsys):
    from edge.cli import main

    assert main(["arrivals", "--feed", str(feeds / NYC), "--stop", "A27N", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and {r["outcome"] for r in rows} == {"stopped"}
    for r in rows:
        assert set(r) >= {"trip_id", "vehicle_id", "route_id", "stop_id", "approached_at",
                          "outcome", "stopped_from", "stopped_until"}
        assert r["stop_id"] == "A27N" and r["approached_at"] <= r["stopped_from"]
    assert main(["arrivals", "--feed", str(feeds / NYC / "missing"), "--stop", "X"]) == 69


def test_cli_polls_the_configured_feed_now(feeds, tmp_path, capsys):
    """``stopsafe arrivals -c CONFIG``: the configured URL polled once, what it says of the
    stop now; a feed that does not answer is exit 69 with the reason."""
    from edge.cli import main
    from tests.bus_fixtures import FeedServer

    body = _files(feeds / NYC)[0].read_bytes()
    server = FeedServer(body)
    cfg = tmp_path / "stopsafe.yaml"
    cfg.write_text(f"arrivals: {{urls: ['{server.url}'], stop_id: A27N}}\n")
    try:
        assert main(["arrivals", "-c", str(cfg), "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        want = {o.trip_id for o in gtfs_rt.snapshot([gtfs_rt.parse_message(body)], "A27N")
                .related()}
        assert rows and {r["trip_id"] for r in rows} == want
        assert all(r["relation"] in ("approaching", "at_stop") for r in rows)
        server.status = 503
        assert main(["arrivals", "-c", str(cfg)]) == 69
        assert "HTTP 503" in capsys.readouterr().err
    finally:
        server.close()


def test_failed_poll_never_shows_the_key():
    from edge.arrivals.source import ServiceSource
    from tests.bus_fixtures import FeedServer

    key = "s3cret+/key=="
    server = FeedServer(b"")
    try:
        src = ServiceSource(tago.request_url(server.url, key, "25", "N1"), key, "N1",
                            tago.parse, timeout_s=2.0)
        for status in (500, 200):  # an HTTP error, then an empty answer
            server.status = status
            with pytest.raises(FeedError) as err:
                src.poll()
            text = str(err.value)
            assert "s3cret" not in text and "serviceKey=***" in text, text
        assert "s3cret" not in repr(src)
    finally:
        server.close()
    with pytest.raises(FeedError) as err:  # nobody listening any more
        src.poll()
    assert "s3cret" not in str(err.value)


# ---------------- the tracker on any sequence of reports (hypothesis) ----------------
REPORT = st.sampled_from(["far", "near", "at", "past", "elsewhere", "absent"])


@settings(max_examples=300, deadline=None)
@given(plan=st.lists(st.tuples(REPORT, REPORT), min_size=1, max_size=25))
def test_tracker_outcomes_follow_the_reports(plan):
    """Two buses, any reports: an arrival is stopped exactly when a stop report was seen since
    it opened, passed only without one, a bus that reached the stop is never 'approaching', and
    a bus is never open twice."""
    rel = {"far": (Relation.APPROACHING, 5, 600.0), "near": (Relation.APPROACHING, 1, 30.0),
           "at": (Relation.AT_STOP, 0, None), "past": (Relation.PAST, None, None),
           "elsewhere": (Relation.ELSEWHERE, None, None)}
    tr = BusTracker(BusSettings(near_s=120.0, near_stops=1, stale_s=1e9))
    seen_stop: dict[str, bool] = {}
    for i, reports in enumerate(plan):
        obs = []
        for key, what in zip(("a", "b"), reports, strict=True):
            if what == "absent":
                continue
            r, away, eta = rel[what]
            obs.append(Observation(key=key, relation=r, stops_away=away, eta_s=eta))
        open_before = {a.key for a in tr.open}
        ch = tr.observe(Snapshot(at=float(i), stop_id="S", observations=tuple(obs)), float(i))
        for a in ch.closed:
            assert a.key in open_before or a.reached  # opened and closed by one report
            stopped = seen_stop.pop(a.key, False) or any(
                o.key == a.key and o.relation is Relation.AT_STOP for o in obs)
            assert (a.outcome is BusOutcome.STOPPED) == stopped, (a, plan[: i + 1])
        for o in obs:
            if o.relation is Relation.AT_STOP and o.key in {a.key for a in tr.open}:
                seen_stop[o.key] = True
        keys = [a.key for a in tr.open]
        assert len(keys) == len(set(keys))
        assert not any(a.reached for a in tr.approaching())
