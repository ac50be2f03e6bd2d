"""The stop's own floor light in the picture, closed-loop (sim/own_light.py): switching it on
changes the frames the detector judges (a warm pool, the rest darker, an exposure jump at each
switch). The light must switch as it does on the clip as filmed, with no cycle shorter than
hold_s (on -> person lost -> off -> found -> on would be one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.config import Config
from edge.runtime.frames import Frame
from sim.own_light import OwnLight, OwnLightCamera
from sim.runner import run_scenario
from sim.scenario import load_scenario
from tests.conftest import scenario_path
from tests.helpers import cut_scenario

CLIPS = ("one-by-one", "tud-campus", "mot17-04", "llvip-night-dev", "intel-carpark-empty")
SWITCH_TOLERANCE_S = 0.4  # two frames at 5 fps


@pytest.fixture(scope="module")
def defaults(models_dir: Path) -> Config:
    return Config.model_validate({"detector": {"models_dir": str(models_dir)}})


def on_spans(switches: list[list]) -> list[float]:
    """How long each on lasted (a light still on at the end is not counted)."""
    spans, since = [], None
    for t, on in switches:
        if on:
            since = t
        elif since is not None:
            spans.append(t - since)
            since = None
    return spans


def assert_same_light(lit: dict, plain: dict, hold_s: float) -> None:
    a, b = lit["light"], plain["light"]
    if b is None or b["switches"] is None:  # unrelated stills: no timeline, only occupancy
        assert lit["occupancy"]["recall"] >= plain["occupancy"]["recall"] - 0.005
        return
    assert a["switches"] == b["switches"], (a["switch_times"], b["switch_times"])
    for (t1, on1), (t2, on2) in zip(a["switch_times"], b["switch_times"], strict=True):
        assert on1 == on2 and abs(t1 - t2) <= SWITCH_TOLERANCE_S, (a["switch_times"],
                                                                   b["switch_times"])
    assert a["missed_waits"] <= b["missed_waits"]
    assert a["false_on_s"] <= b["false_on_s"] + SWITCH_TOLERANCE_S
    assert lit["occupancy"]["f1"] >= plain["occupancy"]["f1"] - 0.005
    assert all(span >= hold_s - 1e-6 for span in on_spans(a["switch_times"])), a
    assert not [f for f in lit["faults"]["raised"] if f not in plain["faults"]["raised"]]


class _Still:
    live = False

    def __init__(self, image: np.ndarray) -> None:
        self.image, self.n = image, 0

    def read(self) -> Frame:
        self.n += 1
        return Frame(self.image.copy(), self.n * 0.2, self.n)

    def close(self) -> None:
        pass


def test_the_light_changes_the_picture_while_the_relay_is_on():
    grey = np.full((100, 200, 3), 100, np.uint8)
    relay = {"on": False}
    cam = OwnLightCamera(_Still(grey), lambda: relay["on"], OwnLight(settle_s=1.0, jump=1.5))
    assert np.array_equal(cam.read().image, grey)  # off: as filmed
    relay["on"] = True
    first = cam.read().image.astype(int)
    for _ in range(10):
        settled = cam.read().image.astype(int)
    assert first.mean() > settled.mean()  # the exposure jump, then it settles
    pool, rest = settled[95, 100], settled[5, 5]
    assert pool[2] > pool[0] > 100 and rest[0] == 80  # warm pool; the rest 20 % darker
    relay["on"] = False
    assert cam.read().image.mean() < 100  # under-exposed just after the light goes off
    for _ in range(10):
        back = cam.read().image
    assert np.array_equal(back, grey)


def test_the_own_light_in_the_loop_on_the_first_visits(defaults: Config, tmp_path: Path):
    """one-by-one's first 30 s (a visit, the light off, the next visit: on, off, on), cut at
    run time: with its own light in the picture the light switches as on the clip as filmed."""
    sc = cut_scenario(load_scenario(scenario_path("one-by-one")), tmp_path, 30.0)
    plain = run_scenario(sc, defaults)
    lit = run_scenario(sc.model_copy(update={"own_light": OwnLight()}), defaults)
    assert lit["own_light"]["lit_frames"] > 50  # the picture did change
    assert plain["light"]["switches"] >= 3
    assert_same_light(lit, plain, sc.hold_s)


@pytest.mark.slow
@pytest.mark.parametrize("clip", CLIPS)
def test_the_own_light_on_every_shared_clip(defaults: Config, clip: str):
    sc = load_scenario(scenario_path(clip))
    plain = run_scenario(sc, defaults)
    lit = run_scenario(sc.model_copy(update={"own_light": OwnLight()}), defaults)
    assert_same_light(lit, plain, sc.hold_s)
