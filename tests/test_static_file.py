"""The places found static, kept across restarts (edge/runtime/static_file.py), and the
installer's one step to mask them (``stopsafe zone --mask-static``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import structlog

from detector.base import Detection
from edge.cli import main
from edge.config import load_config, parse_config
from edge.decision.static import StaticPlace
from edge.decision.zones import Zone
from edge.runtime.static_file import StaticPlacesFile, read_places, static_file_path

SIG = np.random.default_rng(3).integers(0, 256, 128, dtype=np.uint8).tobytes()
HYDRANT = StaticPlace(Detection(0.3, 0.2, 0.4, 0.6, 0.8, signature=SIG), 240.0)


def teardown_function():
    structlog.reset_defaults()  # main() points structlog at the captured stderr


def test_places_are_written_when_they_change_and_read_back(tmp_path: Path):
    path = tmp_path / "state" / "static.json"
    kept = StaticPlacesFile(path)
    assert kept.load() == []  # no file yet: no places, no error
    kept.keep([HYDRANT])
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["places"][0]["box"] == [0.3, 0.2, 0.4, 0.6]
    back = read_places(path)
    assert back[0].box == HYDRANT.box and back[0].box.signature == SIG
    assert back[0].still_s == 240.0
    mtime = path.stat().st_mtime_ns
    kept.keep([StaticPlace(HYDRANT.box, 250.0)])  # the same place, a little stiller: no write
    assert path.stat().st_mtime_ns == mtime
    kept.keep([])  # it went
    assert json.loads(path.read_text())["places"] == []


def test_a_broken_or_foreign_file_is_no_place(tmp_path: Path):
    path = tmp_path / "static.json"
    for text in ("{", '{"version": 9, "places": []}', '{"version": 1, "places": [{"box": '
                 '[0.5, 0.5, 0.4, 0.9], "signature": "00", "still_s": 1}]}', "[]"):
        path.write_text(text)
        assert read_places(path) == []


def test_where_the_file_lives():
    cfg = parse_config({"stop": {"id": "s-7"}})
    assert static_file_path(cfg, default=True).name == "static-s-7.json"
    assert static_file_path(cfg, default=False) is None  # the simulator keeps none by default
    assert static_file_path(parse_config({"static": {"remember": False}}), default=True) is None
    named = parse_config({"static": {"state_file": "/tmp/x.json"}})
    assert static_file_path(named, default=False) == Path("/tmp/x.json")


def test_mask_static_masks_each_static_place_once(tmp_path: Path, capsys):
    state = tmp_path / "static.json"
    StaticPlacesFile(state).keep([HYDRANT])
    path = tmp_path / "stopsafe.yaml"
    text = f"# the installer's comment\nstatic:\n  state_file: {state}\nzone:\n  polygon: " \
           "[[0, 0], [1, 0], [1, 1], [0, 1]]  # the whole picture\n"
    path.write_text(text)
    assert main(["zone", "-c", str(path), "--mask-static"]) == 0
    cfg = load_config(path)
    assert len(cfg.zone.masks) == 1
    assert Zone(cfg.zone.masks[0]).contains(HYDRANT.box.bottom_centre)
    assert not Zone(cfg.zone.masks[0]).contains((0.35, 0.7))  # someone in front still counts
    new = path.read_text()
    assert "# the installer's comment" in new and "# the whole picture" in new
    assert (tmp_path / "stopsafe.yaml.bak").read_text() == text
    assert "masked" in capsys.readouterr().out
    assert main(["zone", "-c", str(path), "--mask-static"]) == 0  # nothing new to mask
    assert len(load_config(path).zone.masks) == 1
    assert "masked already" in capsys.readouterr().out


def test_a_reload_takes_the_static_rule_but_not_its_file():
    """The file is read when the stop is assembled: changing it needs a restart, and the
    reload says so; the rule's timings are taken at once."""
    from edge.runtime.reload import diff

    old = parse_config({})
    d = diff(old, parse_config({"static": {"state_file": "/tmp/other.json", "after_s": 120}}))
    assert d.applied == ("static",) and d.restart_needed == ("static.state_file",)
    assert d.running.static.after_s == 120 and d.running.static.state_file is None
    d = diff(old, parse_config({"static": {"remember": False}}))
    assert d.applied == () and d.restart_needed == ("static.remember",)
    assert d.running.static.remember is True
