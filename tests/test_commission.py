"""Commissioning on a simulated camera (recorded clips) and gpiozero's mock relay.

The black and frozen clips are made here, at test time, in the test's own folder.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
import structlog
import yaml

from edge.cli import main
from edge.config import load_config, parse_config
from edge.install.commissioning import Verdict, check_broker, check_model
from sim.synth import read_frame
from tests.daemon_proc import CLIP

FAST = ["--seconds", "2", "--pulse", "0.2"]


@pytest.fixture(autouse=True)
def _unbind_logging():
    """``main()`` points structlog at this test's captured stderr; undo that afterwards."""
    yield
    structlog.reset_defaults()


CONFIGURED = {  # what every stop must set: commissioning fails the example's values
    "stop": {"id": "test-stop-7", "name": "Test Rd / Table"},
    "zone": {"polygon": [[0.05, 0.3], [0.95, 0.3], [0.95, 1.0], [0.05, 1.0]]},
    "mqtt": {"standalone": True},
}


def write_config(path: Path, models_dir: Path, source: Path | str, **extra) -> Path:
    data = {"camera": {"source": str(source), "fps": 5},
            "detector": {"models_dir": str(models_dir)},
            "light": {"pin_factory": "mock"}, **CONFIGURED, **extra}
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o640)  # as the installer writes it (a world-readable one is warned about)
    return path


@pytest.fixture
def person_png(tmp_path, shared) -> Path:
    """A frame of the clip at 10 s, when one person stands at the table (presence.csv)."""
    path = tmp_path / "person.png"
    cv2.imwrite(str(path), read_frame(CLIP, 10.0))
    return path


def run_json(capsys, argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().out


def test_commission_on_the_one_by_one_clip_passes_and_writes_the_report(
        tmp_path, models_dir, person_png, broker, capsys):
    cfg = write_config(tmp_path / "c.yaml", models_dir, CLIP,
                       lamp_feedback={"pin": 27, "follow_s": 1.0},
                       mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port})
    out = tmp_path / "report"
    rc, stdout = run_json(capsys, ["commission", "-c", str(cfg), "-o", str(out),
                                   "--picture", str(person_png), *FAST])
    report = json.loads((out / "selftest.json").read_text())
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert rc == 0, stdout
    assert status == {"config": "pass", "configured": "pass", "clock": "pass",
                      "permissions": "pass", "relay": "pass", "lamp": "pass",
                      "camera": "pass", "model": "pass", "picture": "pass", "broker": "pass"}
    assert report["passed"] is True
    for c in report["checks"]:  # one line per check on stdout
        assert f"{c['status'].upper():4} {c['name']}: {c['message']}" in stdout
    cam = next(c for c in report["checks"] if c["name"] == "camera")["data"]
    assert (cam["width"], cam["height"]) == (768, 432)
    assert cam["fps"] >= 0.8 * 5 and cam["frames"] >= 8
    picture = next(c for c in report["checks"] if c["name"] == "picture")["data"]
    assert picture["people"] >= 1
    html = (out / "report.html").read_text()
    assert "PASSED" in html and "test-stop-7" in html
    # one self-contained file: the snapshot is inside it
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "selftest.json"]
    data = html.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    snap = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert snap is not None and snap.shape == (432, 768, 3)


def make_black_clip(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (768, 432))
    for _ in range(40):
        writer.write(np.zeros((432, 768, 3), np.uint8))
    writer.release()
    return path


def make_frozen_clip(folder: Path) -> Path:
    """40 frames (4 s at 10 fps) that are all the same picture of the stop."""
    folder.mkdir()
    cv2.imwrite(str(folder / "000.png"), read_frame(CLIP, 10.0))
    for i in range(1, 40):
        os.symlink(folder / "000.png", folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize("kind,says", [
    ("black", "black picture: mean brightness 0.0/255"),
    ("frozen", "frozen picture: all"),
])
def test_commission_fails_the_camera_check_on_a_black_or_frozen_clip(
        tmp_path, models_dir, capsys, kind, says):
    source = (make_black_clip(tmp_path / "black.mp4") if kind == "black"
              else make_frozen_clip(tmp_path / "frozen"))
    cfg = write_config(tmp_path / "c.yaml", models_dir, source)
    rc, stdout = run_json(capsys, ["commission", "-c", str(cfg), "-o", str(tmp_path / "r"),
                                   *FAST])
    assert rc == 1
    report = json.loads((tmp_path / "r/selftest.json").read_text())
    camera = next(c for c in report["checks"] if c["name"] == "camera")
    assert camera["status"] == "fail" and says in camera["message"], camera["message"]
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == ["camera"]
    assert f"FAIL camera: {source}: {says}" in stdout
    assert "FAILED" in (tmp_path / "r/report.html").read_text()


def test_selftest_fails_a_missing_camera_and_a_picture_without_anyone(tmp_path, models_dir,
                                                                      capsys):
    black = tmp_path / "nobody.png"
    cv2.imwrite(str(black), np.full((432, 768, 3), 90, np.uint8))
    cfg = write_config(tmp_path / "c.yaml", models_dir, tmp_path / "no-such-clip.mp4")
    rc, stdout = run_json(capsys, ["selftest", "-c", str(cfg), "--picture", str(black), "--json",
                                   *FAST])
    assert rc == 1
    checks = {c["name"]: c for c in json.loads(stdout)["checks"]}
    assert checks["camera"]["status"] == "fail"
    assert "does not exist" in checks["camera"]["message"]
    assert checks["model"]["status"] == "skip"  # loaded, but there was no live frame
    assert checks["picture"]["status"] == "fail"
    assert "no person found in nobody.png" in checks["picture"]["message"]


def test_broker_check_only_when_configured_and_fails_when_nobody_listens(broker):
    assert check_broker(parse_config({})).status is Verdict.SKIP
    assert check_broker(parse_config({"mqtt": {"standalone": True}})).status is Verdict.PASS
    ok = check_broker(parse_config({"mqtt": {"enabled": True, "host": "127.0.0.1",
                                             "port": broker.port}}))
    assert ok.status is Verdict.PASS and "round trip on stopsafe/stop-0001/cmd/" in ok.message
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    bad = check_broker(parse_config({"mqtt": {"enabled": True, "host": "127.0.0.1",
                                              "port": closed}}))
    assert bad.status is Verdict.FAIL and f"cannot reach 127.0.0.1:{closed}" in bad.message


def test_a_missing_model_fails_the_model_check(tmp_path):
    cfg = parse_config({"detector": {"models_dir": str(tmp_path)}})
    checks, _ = check_model(cfg, np.zeros((10, 10, 3), np.uint8))
    assert checks[0].status is Verdict.FAIL and "stopsafe models fetch" in checks[0].message


def test_lamp_that_does_not_light_fails_the_selftest(monkeypatch):
    """The mock box's lamp is wired to the relay; cut the wire and the lamp check fails."""
    from edge.install.commissioning import check_relay
    from edge.runtime import assembly as build

    cfg = parse_config({"light": {"pin_factory": "mock"},
                        "lamp_feedback": {"pin": 27, "follow_s": 0.3}})
    assert [c.status for c in check_relay(cfg, 0.1)] == [Verdict.PASS, Verdict.PASS]
    real = build.build_light
    monkeypatch.setattr(build, "build_light",
                        lambda c, pin_factory=None: real(c.model_copy(update={
                            "lamp_feedback": c.lamp_feedback.model_copy(update={"pin": None})}),
                            pin_factory))
    relay, lamp = check_relay(cfg, 0.1)
    assert relay.status is Verdict.PASS
    assert lamp.status is Verdict.FAIL and "stayed off for 0.3 s with the relay on" in lamp.message


def test_zone_writes_the_config_safely_and_keeps_comments(tmp_path, models_dir, capsys):
    example = Path(__file__).resolve().parent.parent / "edge" / "stopsafe.example.yaml"
    path = tmp_path / "stopsafe.yaml"
    text = example.read_text().replace("source: /dev/video0", f"source: {CLIP}").replace(
        "# models_dir: /var/lib/stopsafe/models", f"models_dir: {models_dir}").replace(
        "pin_factory: auto", "pin_factory: mock")
    path.write_text(text)
    path.chmod(0o640)
    snap = tmp_path / "snap.png"
    rc = main(["zone", "-c", str(path), "--set", "0.1,0.3 0.9,0.3 0.95,1 0.05,1", "-o", str(snap)])
    assert rc == 0
    new = path.read_text()
    assert load_config(path).zone.polygon == [(0.1, 0.3), (0.9, 0.3), (0.95, 1.0), (0.05, 1.0)]
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "polygon:" in changed[0][1]  # comments and all else kept
    assert (tmp_path / "stopsafe.yaml.bak").read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert cv2.imread(str(snap)).shape == (432, 768, 3)
    assert "wrote zone.polygon" in capsys.readouterr().out

    # pixels, converted with the frame's size
    rc = main(["zone", "-c", str(path), "--px", "--size", "768x432", "--set",
               "0,0 767,0 767,431", "--no-snapshot"])
    assert rc == 0 and load_config(path).zone.polygon == [(0, 0), (1, 0), (1, 1)]

    # refused: outside the frame, or no area; the file and its backup are left alone
    before, backup = path.read_text(), (tmp_path / "stopsafe.yaml.bak").read_text()
    for bad in ("0,0 1.5,0 1,1", "0,0 0.5,0.5 1,1"):
        assert main(["zone", "-c", str(path), "--set", bad, "--no-snapshot"]) == 78
        assert path.read_text() == before
        assert (tmp_path / "stopsafe.yaml.bak").read_text() == backup
    assert main(["zone", "-c", str(path), "--set", "0,0 1,1", "--no-snapshot"]) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_privacy_local_snapshots_off_writes_no_picture(tmp_path, models_dir, capsys):
    cfg = write_config(tmp_path / "c.yaml", models_dir, CLIP,
                       privacy={"local_snapshots": False})
    assert main(["snapshot", "-c", str(cfg), "-o", str(tmp_path / "s.png")]) == 1
    assert not (tmp_path / "s.png").exists()
    assert "privacy.local_snapshots is false" in capsys.readouterr().err
    rc = main(["commission", "-c", str(cfg), "-o", str(tmp_path / "r"), *FAST])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["report.html", "selftest.json"]


def test_snapshot_blur_pixelates_people(tmp_path, shared):
    from detector.base import Detection
    from edge.pictures import PIXELATE_MARGIN, blur_people

    image = read_frame(CLIP, 10.0)
    box = Detection(0.5, 0.1, 0.65, 0.9, 0.9)
    out = blur_people(image, [box])
    y1, y2, x1, x2 = int(0.1 * 432), int(0.9 * 432), int(0.5 * 768), int(0.65 * 768)
    assert not np.array_equal(out[y1:y2, x1:x2], image[y1:y2, x1:x2])
    left = int((0.5 - 0.15 * PIXELATE_MARGIN) * 768)  # the box and its margin are pixelated
    assert np.array_equal(out[:, :left], image[:, :left])  # outside them: untouched
    # pixelated: far fewer distinct rows of pixels inside the box
    assert len(np.unique(out[y1:y2, x1:x2].reshape(y2 - y1, -1), axis=0)) < (y2 - y1) / 4
    shutil.rmtree(tmp_path, ignore_errors=True)
