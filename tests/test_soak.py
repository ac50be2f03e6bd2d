"""Soak: the one-by-one clip looped through the whole daemon with MQTT connected.

The short version runs in the normal suite (two loops: the machinery, identical timelines, flat
descriptors); the 20-minute version is marked ``soak`` (``pytest -m soak``) and asserts the
memory bound. Both report their figures rather than timing anything.
"""

from __future__ import annotations

import json

import pytest

from sim.scenario import load_scenario
from sim.soak import soak
from tests.conftest import scenario_path


def _run(tmp_path, minutes: float, max_loops: int | None, warmup_s: float) -> dict:
    from tests.mqtt_fixtures import Broker
    from tests.mqtt_stop import stop_config

    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(folder)
    broker.start()
    try:
        cfg = stop_config(broker, tmp_path)
        report = soak(load_scenario(scenario_path("one-by-one")), cfg, minutes,
                      warmup_s=warmup_s, max_loops=max_loops)
    finally:
        broker.stop()
    print(json.dumps(report, indent=2))
    return report


def test_two_loops_switch_the_light_identically(shared, models_dir, tmp_path):
    r = _run(tmp_path, minutes=30.0, max_loops=2, warmup_s=0.0)
    assert r["loops"] == 2 and r["mqtt"]
    assert r["switches_per_loop"] >= 10  # six visits, on and off
    assert r["timelines_identical"]
    assert r["errors"] == {}
    assert r["fds"]["end"] <= r["fds"]["after_warmup"] + 2


@pytest.mark.soak
def test_twenty_minute_soak(shared, models_dir, tmp_path):
    r = _run(tmp_path, minutes=20.0, max_loops=None, warmup_s=60.0)
    assert r["minutes"] >= 20.0 and r["loops"] >= 5
    assert r["timelines_identical"]
    assert r["rss_mb"]["growth"] < 5.0
    assert r["fds"]["max"] <= r["fds"]["after_warmup"] + 2
    assert r["threads"]["max"] <= r["threads"]["after_warmup"] + 1
