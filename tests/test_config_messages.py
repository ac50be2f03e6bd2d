"""Config and scenario errors in a person's words: each names the setting as the file writes it,
the value found, and what would be accepted (worked out from the config model itself)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from edge.config import Config, ConfigError, load_config
from edge.config.messages import error_words
from sim.expectations import EXPECTATIONS
from tests.test_fuzz_config import documents

PX_HINT = 'for pixels use "stopsafe zone --set ... --px"'

# (the file, the setting the message must start with, what it must say is accepted)
BAD_CONFIGS = {
    "polygon point out of 0..1": (
        "zone:\n  polygon: [[0.1, 0.5], [0.6, 0.5], [1.2, 0.4], [0.1, 1.0]]\n",
        "zone.polygon: point 3 is (1.2, 0.4)",
        f"each x and y is a fraction of the frame, 0 to 1 ({PX_HINT})"),
    "polygon in pixels": (
        "zone:\n  polygon: [[10, 300], [400, 300], [400, 479], [10, 479]]\n",
        "zone.polygon: point 1 is (10, 300)", PX_HINT),
    "point of 3 numbers": (
        "zone:\n  polygon: [[0.1, 0.5], [0.6, 0.5, 0.2], [0.1, 1.0]]\n",
        "zone.polygon: point 2 is (0.6, 0.5, 0.2)", "each point is [x, y]"),
    "polygon of 2 points": (
        "zone:\n  polygon: [[0.1, 0.5], [0.6, 0.5]]\n",
        "zone.polygon: has 2 points", "accepted: 3 to 64 points [x, y]"),
    "mask point": (
        "zone:\n  masks: [[[0.1, 0.5], [0.6, 0.5], [0.6, -0.1]]]\n",
        "zone.masks[0]: point 3 is (0.6, -0.1)", "fraction of the frame, 0 to 1"),
    "negative point": (
        "zone:\n  polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, -0.1]]\n",
        "zone.polygon: point 3 is (0.6, -0.1)", "fraction of the frame, 0 to 1"),
    "unknown section": (
        "zones:\n  polygon: [[0, 0], [1, 0], [1, 1]]\n",
        "zones: unknown setting (did you mean zone?)", "the top level accepts: stop, camera"),
    "misspelt key": (
        "waiting:\n  dwel_s: 3\n",
        "waiting.dwel_s: unknown setting (did you mean dwell_s?)",
        "waiting accepts: dwell_s, leave_grace_s"),
    "enum": ("logging:\n  format: pretty\n", "logging.format: is 'pretty'",
             "accepted: one of auto, json, console"),
    "literal": ("logging:\n  level: verbose\n", "logging.level: is 'verbose'",
                "accepted: one of debug, info, warning, error"),
    "back-end": ("detector:\n  backend: yolo\n", "detector.backend: is 'yolo'",
                 "accepted: one of ssd, yolox, yolox_onnx"),
    "above the maximum": ("camera:\n  fps: 120\n", "camera.fps: is 120",
                          "accepted: a number above 0, up to 60"),
    "not above 0": ("camera:\n  fps: 0\n", "camera.fps: is 0",
                    "accepted: a number above 0, up to 60"),
    "not a number": ("camera:\n  fps: fast\n", "camera.fps: is 'fast'", "a number above 0"),
    "at least": ("waiting:\n  dwell_s: -1\n", "waiting.dwell_s: is -1", "a number from 0 to"),
    "a union": ("detector:\n  threads: 2.5\n", "detector.threads: is 2.5",
                "accepted: a whole number from 1 to 16 or auto"),
    "bool": ("adaptive:\n  enabled: maybe\n", "adaptive.enabled: is 'maybe'",
             "accepted: true or false"),
    "section not a mapping": ("camera: /dev/video0\n", "camera: is '/dev/video0'",
                              "accepted: a mapping with the keys source, fps"),
    "pattern": ("stop:\n  id: stop 12\n", "stop.id: is 'stop 12'",
                "accepted: text of 1 to 64 characters: only letters, digits, '_' and '-'"),
    "list item": ("schedule:\n  windows: [{days: [monday], start: '06:00', end: '22:00'}]\n",
                  "schedule.windows[0].days[0]: is 'monday'",
                  "accepted: one of mon, tue, wed, thu, fri, sat, sun"),
    "optional text": ("mqtt:\n  client_id: " + "x" * 70 + "\n", "mqtt.client_id: is 'xxx",
                      "text of 1 to 64 characters: only letters, digits, '_', '.' and '-' or "
                      "null (not set)"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_each_message_names_the_setting_and_what_is_accepted(case, tmp_path):
    text, setting, accepted = BAD_CONFIGS[case]
    path = tmp_path / "stopsafe.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {setting}"), message
    assert accepted in message, message
    assert "Input should" not in message and "Value error" not in message, message
    assert "\n" not in message
    # the pixel hint only where a coordinate is above 1
    assert (PX_HINT in message) == (case in ("polygon point out of 0..1", "polygon in pixels"))


def test_a_polygon_in_pixels_is_one_problem_not_eight(tmp_path):
    path = tmp_path / "stopsafe.yaml"
    path.write_text(BAD_CONFIGS["polygon in pixels"][0])
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "more problem" not in str(err.value)
    path.write_text("camera:\n  fps: 0\nzone:\n  polygon: [[2, 0], [1, 0], [1, 1]]\n")
    with pytest.raises(ConfigError, match=r"camera.fps: .* \(and 1 more problem\)$"):
        load_config(path)


def test_scenario_errors_use_the_same_words(tmp_path):
    from sim.scenario import load_scenario

    path = tmp_path / "s.yaml"
    head = "name: x\nclip: x.mp4\ndwell_s: 1\nhold_s: 1\ntruth: {presence: p.csv}\n"
    path.write_text(head + "zone: [[0.1, 0.5], [0.6, 0.5], [1.2, 0.4]]\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(err.value) == (f"{path}: zone: point 3 is (1.2, 0.4); each x and y is a fraction "
                              "of the frame, 0 to 1")
    path.write_text(head + "zone: [[0, 0], [1, 0], [1, 1]]\nexpect: {f1_min: 0.9}\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: expect: unknown expectation 'f1_min'; accepted: ")
    assert all(key in str(err.value) for key in EXPECTATIONS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents())
def test_every_error_of_a_fuzzed_config_is_worded(doc):
    """Random documents (tests/test_fuzz_config.py's): each error gets words of its own (not
    pydantic's, and without falling back), naming the setting."""
    if not isinstance(doc, dict):
        return
    try:
        Config.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors():
            name, text = error_words(err, Config, doc, PX_HINT)  # raises if it cannot
            assert name and "Input should" not in text, (err, text)


def test_without_the_model_the_error_itself_says_what_is_accepted():
    """Where only the error is at hand (no model to read), its own context gives the bound or
    the allowed values."""
    from enum import Enum

    from pydantic import BaseModel, Field

    class Kind(str, Enum):
        A = "a"
        B = "b"

    class Thing(BaseModel):
        size: float = Field(ge=0, le=5)
        kind: Kind

    with pytest.raises(ValidationError) as exc:
        Thing(size=7, kind="c")
    words = [error_words(e) for e in exc.value.errors()]
    assert words == [("size", "is 7; accepted: a number up to 5"),
                     ("kind", "is 'c'; accepted: one of a or b")]
