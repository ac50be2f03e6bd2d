"""Fuzzing the config loader: any document either loads or gives the one-line exit-78 message."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge import cli
from edge.config import EX_CONFIG, Config, ConfigError, load_config

SECTIONS = sorted(Config.model_fields)
FIELDS = {name: sorted(f.annotation.model_fields) for name, f in Config.model_fields.items()}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["auto", "mock", "ssd", "yolox", "05:30", "25:00", "-1", "1e9", "0x10"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@st.composite
def documents(draw):
    """Mostly well-shaped documents with random values, sometimes random keys and shapes."""
    doc = {}
    for section in draw(st.lists(st.sampled_from(SECTIONS), max_size=4, unique=True)):
        fields = draw(st.lists(st.sampled_from(FIELDS[section]), max_size=3, unique=True))
        doc[section] = {f: draw(values) for f in fields}
    if draw(st.booleans()):
        doc[draw(st.text(max_size=8))] = draw(values)
    return draw(st.one_of(st.just(doc), values))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents())
def test_any_document_loads_or_gives_one_clear_line(doc, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
        assert exc.exit_code == EX_CONFIG
    else:
        assert isinstance(cfg, Config)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_loads_or_gives_one_clear_line(text, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "fuzz-text.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


def test_cli_exit_78_for_a_fuzzed_bad_value(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("camera: {fps: .nan}\n")
    assert cli.main(["check-config", "-c", str(path)]) == EX_CONFIG
    assert "camera.fps" in capsys.readouterr().err
