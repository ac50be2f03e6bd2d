"""Changing the config file on the box without losing it: ``stopsafe zone --set`` and
``--mask-static``.

The installer's file has their comments in it, so only the ``zone.polygon`` (or ``zone.masks``)
value is replaced in the text (located with PyYAML's composer), the result is validated like at
start-up, written to a temporary file beside it with the same mode and owner, and renamed over
it; the old file stays as ``FILE.bak``. A power cut at any moment leaves either the old or the
new file, never half of one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from edge.config import Config, ConfigError, parse_config


def _flow(polygon: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join(f"[{round(x, 4):g}, {round(y, 4):g}]" for x, y in polygon) + "]"


def _end(node: yaml.Node) -> int:
    """Where a node's own text ends (a block collection's end mark runs on over comments)."""
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end(node.value[-1][1])
    return node.end_mark.index


def replace_zone_text(text: str, polygon: Sequence[Sequence[float]]) -> str:
    """``text`` with ``zone.polygon`` set to ``polygon``, everything else as it was."""
    return _replace_in_zone(text, "polygon", _flow(polygon))


def replace_masks_text(text: str, masks: Sequence[Sequence[Sequence[float]]]) -> str:
    """``text`` with ``zone.masks`` set to ``masks``, everything else as it was."""
    return _replace_in_zone(text, "masks", "[" + ", ".join(_flow(m) for m in masks) + "]")


def _replace_in_zone(text: str, name: str, flow: str) -> str:
    """``text`` with ``zone.<name>`` set to the flow-style YAML ``flow``."""
    root = yaml.compose(text) if text.strip() else None
    if root is None:
        return f"{text.rstrip()}\nzone:\n  {name}: {flow}\n".lstrip("\n")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("the config is not a mapping of sections")
    for key, value in root.value:
        if key.value != "zone":
            continue
        if isinstance(value, yaml.MappingNode):
            for k2, v2 in value.value:
                if k2.value == name:
                    return text[:k2.end_mark.index] + ": " + flow + text[_end(v2):]
            if not value.flow_style and value.value:
                first_key = value.value[0][0]
                indent = " " * first_key.start_mark.column
                at = first_key.start_mark.index - first_key.start_mark.column
                return text[:at] + f"{indent}{name}: {flow}\n" + text[at:]
        # zone: (empty), zone: {} or zone: {other: ...}: write the section as a flow mapping
        data = yaml.safe_load(text[value.start_mark.index:_end(value)]) if value.value else {}
        data = data if isinstance(data, dict) else {}
        items = [f"{k}: {yaml.safe_dump(v, default_flow_style=True).strip()}"
                 for k, v in data.items() if k != name]
        section = "{" + ", ".join([f"{name}: {flow}", *items]) + "}"
        return text[:key.end_mark.index] + ": " + section + text[_end(value):]
    return f"{text.rstrip()}\n\nzone:\n  {name}: {flow}\n"


def _rounded(polygon: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    return [(round(x, 4), round(y, 4)) for x, y in polygon]


def write_zone(path: Path, polygon: Sequence[Sequence[float]]) -> tuple[Config, Path]:
    """Set the zone in the file at ``path``; returns the new config and the backup's path.

    Raises ConfigError (and leaves the file alone) when the result would not be valid.
    """
    text = path.read_text(encoding="utf-8")
    cfg, new_text = _checked(path, replace_zone_text(text, polygon))
    if _rounded(cfg.zone.polygon) != _rounded(polygon):
        raise ConfigError(f"{path}: zone.polygon did not come out as set; file left as it was")
    return cfg, _write(path, new_text)


def write_masks(path: Path, masks: Sequence[Sequence[Sequence[float]]]) -> tuple[Config, Path]:
    """Set ``zone.masks`` in the file at ``path``, like :func:`write_zone`."""
    text = path.read_text(encoding="utf-8")
    cfg, new_text = _checked(path, replace_masks_text(text, masks))
    if [_rounded(m) for m in cfg.zone.masks] != [_rounded(m) for m in masks]:
        raise ConfigError(f"{path}: zone.masks did not come out as set; file left as it was")
    return cfg, _write(path, new_text)


def _checked(path: Path, new_text: str) -> tuple[Config, str]:
    try:
        data = yaml.safe_load(new_text)
    except yaml.YAMLError as exc:  # pragma: no cover - the replacements write valid YAML
        raise ConfigError(f"{path}: the edited file is not YAML: {exc}") from None
    return parse_config(data, path), new_text


def _write(path: Path, new_text: str) -> Path:
    """Replace the file (same mode and owner), keeping the old one as FILE.bak; the backup's
    path."""
    backup = path.with_name(path.name + ".bak")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    st = path.stat()
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(new_text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        if hasattr(os, "chown") and os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        shutil.copy2(path, backup)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return backup


def parse_points(spec: str) -> list[tuple[float, float]]:
    """``"x,y x,y x,y"`` (also ``;``-separated) to a list of points."""
    points = []
    for part in spec.replace(";", " ").split():
        xs = part.split(",")
        if len(xs) != 2:
            raise ValueError(f"{part!r} is not a point x,y")
        points.append((float(xs[0]), float(xs[1])))
    if len(points) < 3:
        raise ValueError(f"a zone needs at least 3 points, got {len(points)}")
    return points
