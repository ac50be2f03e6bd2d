"""fleet-sim with Home Assistant discovery: after Home Assistant's ``online`` the stops' configs
come back spread over ``mqtt.discovery_delay_max_s``, not all in the same second. The
1,000-stop, 30-second run is the ``load`` test (``make load``); the normal run does 100 stops
over 5 seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import pytest

from sim.ha_announce import AnnounceFigures, measure
from tests.conftest import REPO
from tests.helpers import stop_fleet
from tests.mqtt_fixtures import Broker

pytestmark = pytest.mark.mqtt


def announce(broker: Broker, stops: int, window_s: float) -> AnnounceFigures:
    fleet = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "fleet-sim", "--stops", str(stops), "--broker",
         broker.address, "--discovery", "--discovery-delay-max-s", str(window_s),
         "--telemetry-s", "600", "--seed", "5"], cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        figures = measure(broker.host, broker.port, stops, window_s, ready_timeout_s=90.0)
    finally:
        err = stop_fleet(fleet)
    assert fleet.returncode == 0, err[-2000:]
    print("HA_ANNOUNCE_FIGURES", json.dumps(asdict(figures)))
    return figures


def check_spread(f: AnnounceFigures, stops: int, window_s: float) -> None:
    assert f.configs == f.stops_answered == stops  # one device-based config per stop, once
    assert f.last_s is not None and f.last_s < window_s + 1.5
    # spread over the window: no second empty, none with more than 2.5x the mean
    assert f.seconds_with_none == 0
    assert f.peak_per_s <= 2.5 * stops / window_s


def test_fleet_of_100_answers_home_assistant_spread_over_5_s(broker):
    f = announce(broker, 100, 5.0)
    check_spread(f, 100, 5.0)


@pytest.mark.load
def test_fleet_of_1000_answers_home_assistant_spread_over_30_s(tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(folder)
    broker.start()
    try:
        f = announce(broker, 1000, 30.0)
    finally:
        broker.stop()
    check_spread(f, 1000, 30.0)
