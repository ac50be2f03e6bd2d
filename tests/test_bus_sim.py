"""``stopsafe sim`` with an arrivals feed and button presses beside a real clip: the real NYC
series (two trains at one stop, re-timed onto the clip) as a folder of FeedMessage files named
by offset, presses of the waiting button, and the ``buses`` object scored against the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.transit import gtfs_realtime_pb2 as rt

from tests.bus_fixtures import add_trip, nyc_snapshots
from tests.conftest import REPO, scenario_path

STOP = "A27N"
EPOCH = 1_700_000_000  # the clip's start, in the feed's time
STOPS = "001400_E..N"  # near (snapshot 3), at the stop (6), beyond (9)
PASSES = "138150_A..N"  # near (0), then beyond (9): never reported at the stop
# offset in the clip -> (snapshot of STOPS, snapshot of PASSES)
TIMELINE = {0.0: (0, 0), 30.0: (0, 0), 45.0: (0, 9), 60.0: (3, 9), 75.0: (6, 9), 100.0: (9, 9)}


def _file(raws: list[rt.FeedMessage], offset: float, picks: tuple[int, int]) -> bytes:
    out = rt.FeedMessage()
    out.header.gtfs_realtime_version = "1.0"
    out.header.timestamp = int(EPOCH + offset)
    for trip, i in zip((STOPS, PASSES), picks, strict=True):
        add_trip(out, raws[i], trip)
    return out.SerializeToString()


def _scenario(tmp: Path, **extra) -> Path:
    raws = nyc_snapshots()
    feed = tmp / "feed"
    feed.mkdir()
    for offset, picks in TIMELINE.items():
        (feed / f"{offset:g}.pb").write_bytes(_file(raws, offset, picks))
    base = yaml.safe_load(scenario_path("one-by-one").read_text())
    clips = scenario_path("one-by-one").parent
    sc = {**base, "name": "bus-stop-feed", "clip": str(clips / base["clip"]),
          "truth": {**base["truth"], "presence": str(clips / base["truth"]["presence"])},
          "arrivals_feed": "feed", "gtfs_stop_id": STOP, "arrivals_epoch": EPOCH,
          "button": [{"at_s": 40.0, "for_s": 15.0}],
          "buses_truth": [{"trip_id": STOPS, "outcome": "stopped"},
                          {"trip_id": PASSES, "outcome": "passed"}], **extra}
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(sc))
    return path


def test_sim_prints_the_buses_object(shared, models_dir, tmp_path):
    path = _scenario(tmp_path)
    cfg = tmp_path / "stopsafe.yaml"  # the camera looks for buses too (there are none)
    cfg.write_text(yaml.safe_dump({"kerb": {"polygon": [[0, 0.85], [1, 0.85], [1, 1],
                                                        [0, 1]]}}))
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "sim", str(path), "--json",
                           "-c", str(cfg)], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    b = r["buses"]
    assert (b["arrivals"], b["stopped"], b["passed"]) == (2, 1, 1), b
    assert b["button_presses"] == 1
    assert {a["source"] for a in b["per_arrival"]} == {"feed"}  # no bus seen in the clip
    by_trip = {a["trip"]: a for a in b["per_arrival"]}
    passed = by_trip[PASSES]
    # it went by at 45 s, during the press (40-55 s) and while the clip's second visitor stood
    assert passed["outcome"] == "passed" and passed["waiting"] is True
    assert b["passed_while_waiting"] == 1 and passed["light_on"] is True
    # reported once no camera visit came to pair with it (kerb.match_s, 60 s, later)
    assert passed["left_s"] == 45.0 and 105.0 <= passed["event_s"] <= 107.0
    stopped = by_trip[STOPS]
    assert stopped["outcome"] == "stopped" and stopped["dwell_s"] is not None
    assert stopped["approached_s"] >= 60.0 and stopped["stopped_from_s"] <= 75.0
    assert b["truth"]["agree"] == 2 and b["truth"]["found"] == 2
    assert r["light"]["missed_waits"] == 0  # the camera's scores as before


def test_bad_feed_folder_is_a_config_error(tmp_path):
    from edge.config import ConfigError
    from sim.scenario import load_scenario

    path = _scenario(tmp_path)
    (tmp_path / "feed" / "soon.pb").write_bytes(b"x")
    with pytest.raises(ConfigError, match="arrivals_feed"):
        load_scenario(path)
