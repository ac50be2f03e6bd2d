"""Changing the config file on the box without losing it: ``stopsafe zone --set``, ``stopsafe
zone --mask-static`` and the page's zone editor.

The installer's file has their comments in it, so only ``zone.polygon`` (and ``zone.masks``) is
replaced in the text (located with PyYAML's composer), the result is validated like at start-up,
written to a temporary file beside it with the same mode and owner, and renamed over it; the old
file stays as ``FILE.bak``. A power cut at any moment leaves either the old or the new file,
never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from edge.config import Config, ConfigError, parse_config
from edge.files import write_atomic


def _flow(polygon: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join(f"[{round(x, 4):g}, {round(y, 4):g}]" for x, y in polygon) + "]"


def _end(node: yaml.Node) -> int:
    """Where a node's own text ends (a block collection's end mark runs on over comments)."""
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end(node.value[-1][1])
    return node.end_mark.index


def _set_zone_key(text: str, key: str, flow: str) -> str:
    """``text`` with ``zone.<key>`` set to the flow-style YAML ``flow``, the rest as it was."""
    root = yaml.compose(text) if text.strip() else None
    if root is None:
        return f"{text.rstrip()}\nzone:\n  {key}: {flow}\n".lstrip("\n")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("the config is not a mapping of sections")
    for k, value in root.value:
        if k.value != "zone":
            continue
        if isinstance(value, yaml.MappingNode):
            for k2, v2 in value.value:
                if k2.value == key:
                    return text[:k2.end_mark.index] + ": " + flow + text[_end(v2):]
            if not value.flow_style and value.value:
                first_key = value.value[0][0]
                indent = " " * first_key.start_mark.column
                at = first_key.start_mark.index - first_key.start_mark.column
                return text[:at] + f"{indent}{key}: {flow}\n" + text[at:]
        # zone: (empty), zone: {} or zone: {other: ...}: write the section as a flow mapping
        data = yaml.safe_load(text[value.start_mark.index:_end(value)]) if value.value else {}
        data = data if isinstance(data, dict) else {}
        items = [f"{k3}: {yaml.safe_dump(v, default_flow_style=True).strip()}"
                 for k3, v in data.items() if k3 != key]
        section = "{" + ", ".join([f"{key}: {flow}", *items]) + "}"
        return text[:k.end_mark.index] + ": " + section + text[_end(value):]
    return f"{text.rstrip()}\n\nzone:\n  {key}: {flow}\n"


def replace_zone_text(text: str, polygon: Sequence[Sequence[float]],
                      masks: Sequence[Sequence[Sequence[float]]] | None = None) -> str:
    """``text`` with ``zone.polygon`` (and ``zone.masks`` unless None) set, everything else as
    it was."""
    text = _set_zone_key(text, "polygon", _flow(polygon))
    if masks is not None:
        text = _set_zone_key(text, "masks", "[" + ", ".join(_flow(m) for m in masks) + "]")
    return text


def _rounded(polygon: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    return [(round(x, 4), round(y, 4)) for x, y in polygon]


def write_zone(path: Path, polygon: Sequence[Sequence[float]],
               masks: Sequence[Sequence[Sequence[float]]] | None = None) -> tuple[Config, Path]:
    """Set the zone (and its masks unless None) in the file at ``path``; returns the new
    config and the backup's path.

    Raises ConfigError (and leaves the file alone) when the result would not be valid.
    """
    text = path.read_text(encoding="utf-8")
    new_text = replace_zone_text(text, polygon, masks)
    try:
        data = yaml.safe_load(new_text)
    except yaml.YAMLError as exc:  # pragma: no cover - replace_zone_text writes valid YAML
        raise ConfigError(f"{path}: the edited file is not YAML: {exc}") from None
    cfg = parse_config(data, path)
    if _rounded(cfg.zone.polygon) != _rounded(polygon) or (
            masks is not None and [_rounded(m) for m in cfg.zone.masks]
            != [_rounded(m) for m in masks]):
        raise ConfigError(f"{path}: the zone did not come out as set; file left as it was")
    backup = path.with_name(path.name + ".bak")
    st = path.stat()
    write_atomic(path, new_text, mode=st.st_mode & 0o7777, backup=backup, sync_dir=True,
                 owner=(st.st_uid, st.st_gid) if os.geteuid() == 0 else None)
    return cfg, backup


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
