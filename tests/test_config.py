"""Configuration: the example loads; every bad file stops start-up with exit 78 and one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from edge import cli
from edge.config import EX_CONFIG, Config, load_config

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "edge" / "stopsafe.example.yaml"


def test_example_config_is_valid_and_matches_defaults():
    cfg = load_config(EXAMPLE)
    defaults = Config()
    # the example only annotates the defaults (plus a stop name)
    assert cfg.model_dump(exclude={"stop"}) == defaults.model_dump(exclude={"stop"})


def _walk(model: type[BaseModel], path: str = ""):
    for name, field in model.model_fields.items():
        yield f"{path}{name}", field
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, f"{path}{name}.")


def test_every_field_is_described():
    missing = [p for p, f in _walk(Config) if not f.description and not (
        isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))]
    assert not missing, f"fields without a description: {missing}"


BAD = {
    "unknown key": ("light:\n  colour: white\n", "light.colour: unknown setting; light accepts: "),
    "unknown section": ("lights: {}\n", "lights: unknown setting (did you mean light?)"),
    "wrong type": ("camera:\n  fps: fast\n", "camera.fps:"),
    "zone with 2 points": ("zone:\n  polygon: [[0, 0], [1, 0]]\n", "zone.polygon:"),
    "coordinate outside 0..1": (
        "zone:\n  polygon: [[0, 0], [1.2, 0], [1, 1]]\n", "zone.polygon: point 2 is (1.2, 0);"),
    "negative coordinate": ("zone:\n  polygon: [[0, 0], [1, 0], [1, -0.1]]\n",
                            "zone.polygon: point 3 is (1, -0.1);"),
    "negative dwell": ("waiting:\n  dwell_s: -1\n", "waiting.dwell_s:"),
    "negative hold": ("light:\n  hold_s: -0.5\n", "light.hold_s:"),
    "negative max_missed": ("tracker:\n  max_missed_s: -2\n", "tracker.max_missed_s:"),
    "yaml syntax": ("light: [\n", "YAML syntax"),
    "not a mapping": ("- a\n- b\n", "expected a mapping"),
    "unquoted time": ("schedule:\n  windows:\n    - {start: 5:30, end: '22:00'}\n",
                      "schedule.windows[0].start:"),
    "pin out of range": ("light:\n  pin: 40\n", "light.pin:"),
    "flat zone": ("zone:\n  polygon: [[0, 0], [0.5, 0.5], [1, 1]]\n", "no area"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_exits_78_with_one_clear_line(case, tmp_path, capsys, monkeypatch):
    text, expected = BAD[case]
    path = tmp_path / "stop.yaml"
    path.write_text(text)
    touched = []
    import edge.runtime.assembly
    import edge.runtime.daemon

    for module, name in ((edge.runtime.assembly, "build_light"),
                         (edge.runtime.daemon, "build_light"),
                         (edge.runtime.daemon, "open_camera"),
                         (edge.runtime.assembly, "build_detector")):
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: touched.append(_n))
    code = cli.main(["run", "-c", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EX_CONFIG
    assert not touched, "nothing may be touched before the config is valid"
    line = [e for e in err if "config error" in e]
    assert len(line) == 1, err
    assert str(path) in line[0] and expected in line[0], line[0]


def test_missing_config_file(tmp_path, capsys):
    code = cli.main(["run", "-c", str(tmp_path / "nope.yaml")])
    assert code == EX_CONFIG
    assert "nope.yaml: file not found" in capsys.readouterr().err


def test_check_config_prints_effective_config(capsys):
    assert cli.main(["check-config", "-c", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert '"dwell_s": 3.0' in out
