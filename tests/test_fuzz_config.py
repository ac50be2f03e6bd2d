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


# ---- issue 12: depth, encodings, geometry -------------------------------------------------

def _assert_loads_or_one_line(path) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
        assert exc.exit_code == EX_CONFIG
        return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(0, 3000), section=st.sampled_from(SECTIONS), kind=st.sampled_from(
    ["flow_list", "flow_map", "block"]))
def test_any_nesting_depth_loads_or_gives_one_line(depth, section, kind, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "fuzz-deep.yaml"
    field = FIELDS[section][0]
    if kind == "flow_list":
        value = "[" * depth + "1" + "]" * depth
    elif kind == "flow_map":
        value = "{a: " * depth + "1" + "}" * depth
    else:
        value = "".join(f"\n{'  ' * (i + 2)}k{i}:" for i in range(min(depth, 400))) + " 1"
    path.write_text(f"{section}:\n  {field}: {value}\n")
    _assert_loads_or_one_line(path)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]


@settings(max_examples=300, deadline=None)
@given(doc=documents(), encoding=st.sampled_from(ENCODINGS),
       junk=st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=3)),
                     max_size=3))
def test_any_encoding_and_stray_bytes_load_or_give_one_line(doc, encoding, junk,
                                                             tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "fuzz-enc.yaml"
    raw = yaml.safe_dump(doc, allow_unicode=True).encode(encoding, errors="replace")
    for at, b in junk:  # NUL, invalid UTF-8, control characters at random places
        at = min(at, len(raw))
        raw = raw[:at] + b + raw[at:]
    path.write_bytes(raw)
    _assert_loads_or_one_line(path)


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _meet(p, q, r, s) -> bool:
    """An independent segment test (exact, with Fractions): solve p + t(q-p) = r + u(s-r)."""
    from fractions import Fraction as F

    p, q, r, s = ([F(c) for c in v] for v in (p, q, r, s))
    d = (q[0] - p[0]) * (s[1] - r[1]) - (q[1] - p[1]) * (s[0] - r[0])
    if d != 0:
        t = ((r[0] - p[0]) * (s[1] - r[1]) - (r[1] - p[1]) * (s[0] - r[0])) / d
        u = ((r[0] - p[0]) * (q[1] - p[1]) - (r[1] - p[1]) * (q[0] - p[0])) / d
        return 0 <= t <= 1 and 0 <= u <= 1
    if _cross(p, q, r) != 0:
        return False  # parallel, apart
    axis = 0 if p[0] != q[0] or r[0] != s[0] else 1
    lo1, hi1 = sorted((p[axis], q[axis]))
    lo2, hi2 = sorted((r[axis], s[axis]))
    return max(lo1, lo2) <= min(hi1, hi2)


def _simple(poly) -> bool:
    pts = [p for i, p in enumerate(poly) if i == 0 or p != poly[i - 1]]
    while len(pts) > 1 and pts[0] == pts[-1]:
        pts.pop()
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            a, b, c, d = pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]
            if j == i + 1 or (i == 0 and j == n - 1):
                shared, p, q = (b, a, d) if j == i + 1 else (a, b, c)
                fold = _cross(p, shared, q) == 0 and (
                    (shared[0] - p[0]) * (q[0] - shared[0])
                    + (shared[1] - p[1]) * (q[1] - shared[1]) < 0)
                if fold:
                    return False
            elif _meet(a, b, c, d):
                return False
    return True


grid = st.integers(0, 8).map(lambda k: k / 8)


@settings(max_examples=1000, deadline=None)
@given(poly=st.lists(st.tuples(grid, grid), min_size=3, max_size=9))
def test_any_zone_polygon_is_accepted_only_when_simple(poly):
    from edge.config import parse_config

    try:
        cfg = parse_config({"zone": {"polygon": [list(p) for p in poly]}})
    except ConfigError as exc:
        msg = str(exc)
        assert "\n" not in msg
        if "self-intersecting" in msg:
            assert not _simple(poly), poly
        else:
            assert "no area" in msg, msg
    else:
        assert _simple(poly), f"accepted a self-intersecting zone: {poly}"
        assert cfg.zone.polygon
