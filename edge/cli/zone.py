"""``stopsafe zone -c CONFIG --set "x,y x,y x,y ..." [--px]``: set the zone in the config file;
``stopsafe zone -c CONFIG --mask-static``: mask every place the daemon found static (a hydrant,
a bin, a poster the detector takes for a person), read from its static-places file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.common import EX_SOFTWARE, EX_UNAVAILABLE, add_config_option, load
from edge.config import EX_CONFIG, Config, ConfigError
from edge.decision.zones import Zone, box_polygon


def _frame_size(args: argparse.Namespace, cfg: Config) -> tuple[int, int]:
    if args.size:
        w, _, h = args.size.lower().partition("x")
        return int(w), int(h)
    from edge.install.commissioning import grab_frame

    h, w = grab_frame(cfg, warmup_s=0.0).shape[:2]
    return w, h


def cmd_zone(args: argparse.Namespace) -> int:
    from detector.models import ModelError
    from edge.cli.snapshot import refuse_unless_allowed, write_snapshot
    from edge.install.config_edit import parse_points, write_zone
    from edge.runtime.frames import CameraError

    path = Path(args.config)
    current = load(args.config)  # the file must be valid before it is changed
    if args.mask_static:
        return _mask_static(path, current)
    try:
        points = parse_points(args.set)
    except ValueError as exc:
        print(f"stopsafe zone: --set: {exc}", file=sys.stderr)
        return 2
    if args.px:
        try:
            w, h = _frame_size(args, current)
        except CameraError as exc:
            print(f"stopsafe zone: --px needs the frame size (--size WxH): {exc}",
                  file=sys.stderr)
            return EX_UNAVAILABLE
        points = [(x / max(w - 1, 1), y / max(h - 1, 1)) for x, y in points]
    try:
        cfg, backup = write_zone(path, points)
    except ConfigError as exc:
        print(f"stopsafe zone: not written: {exc}", file=sys.stderr)
        return EX_CONFIG
    print(f"wrote zone.polygon {[list(p) for p in cfg.zone.polygon]} to {path} "
          f"(previous file: {backup})")
    print("a running daemon takes it on a reload: sudo systemctl reload stopsafe "
          "(or kill -HUP its process, or the MQTT command cmd/reload)")
    if args.no_snapshot or refuse_unless_allowed(cfg, "zone"):
        return 0
    try:
        summary = write_snapshot(cfg, Path(args.snapshot), warmup_s=0.5)
    except (CameraError, ModelError) as exc:
        print(f"stopsafe zone: zone written, but no snapshot: {exc}", file=sys.stderr)
        return EX_SOFTWARE if isinstance(exc, ModelError) else EX_UNAVAILABLE
    print(f"wrote {args.snapshot}: {summary}")
    return 0


def _mask_static(path: Path, cfg: Config) -> int:
    """Add a mask round each static place's box (its standing point is inside it; a person
    standing in front of the thing stands below it and still counts)."""
    from edge.install.config_edit import write_zone
    from edge.runtime.static_file import read_places, static_file_path

    kept = static_file_path(cfg, default=True)
    if kept is None:
        print("stopsafe zone: static.remember is off: no static places are kept",
              file=sys.stderr)
        return EX_UNAVAILABLE
    places = read_places(kept)
    if not places:
        print(f"stopsafe zone: no static places in {kept}: nothing to mask")
        return 0
    masks = [list(m) for m in cfg.zone.masks]
    added = []
    for p in places:
        x, y = p.box.bottom_centre
        if any(Zone(m).contains((x, y)) for m in masks):
            continue  # masked already
        poly = box_polygon((p.box.x1, p.box.y1, p.box.x2, p.box.y2))
        masks.append(poly)
        added.append(poly)
    if not added:
        print(f"every static place in {kept} is masked already")
        return 0
    try:
        _cfg, backup = write_zone(path, cfg.zone.polygon, masks)
    except ConfigError as exc:
        print(f"stopsafe zone: not written: {exc}", file=sys.stderr)
        return EX_CONFIG
    for poly in added:
        print(f"masked {[[round(v, 4) for v in pt] for pt in poly]}")
    print(f"wrote zone.masks ({len(masks)}) to {path} (previous file: {backup}); a reload "
          "applies it: sudo systemctl reload stopsafe")
    return 0


def register(p: argparse.ArgumentParser) -> None:
    add_config_option(p, required=True,
                      what=" (edited in place; the old one is kept as FILE.bak)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--set", metavar="POINTS",
                      help='polygon points "x,y x,y x,y ...": fractions 0..1 of the frame '
                      "(or pixels with --px)")
    what.add_argument("--mask-static", action="store_true",
                      help="add a mask (zone.masks) round every place the daemon found static "
                      "(static_object fault), from its static-places file")
    p.add_argument("--px", action="store_true", help="the points are pixel coordinates")
    p.add_argument("--size", metavar="WxH", help="frame size for --px (default: ask the camera)")
    p.add_argument("-o", "--snapshot", default="snapshot.png", metavar="FILE.png",
                   help="where to redraw the snapshot (default snapshot.png)")
    p.add_argument("--no-snapshot", action="store_true", help="only write the config")
    p.set_defaults(func=cmd_zone)
