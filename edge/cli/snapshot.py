"""``stopsafe snapshot -c CONFIG -o FILE.png``: one live frame with the zone and detections."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.common import EX_SOFTWARE, EX_UNAVAILABLE, add_config_option, load
from edge.config import Config

EX_PRIVACY = 1


def write_snapshot(cfg: Config, out: Path, *, blur: bool = False, warmup_s: float = 1.0) -> str:
    """Grab, detect, draw and write; returns a one-line summary. Raises CameraError/ModelError."""
    import cv2

    from edge.decision.zones import Zone
    from edge.install.commissioning import grab_frame, people
    from edge.pictures import draw_snapshot
    from edge.runtime.assembly import detect_once

    image = grab_frame(cfg, warmup_s)
    dets = detect_once(cfg)(image)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), draw_snapshot(image, dets, cfg, blur=blur)):
        raise OSError(f"cannot write {out}")
    zone = Zone(cfg.zone.polygon)
    inside = sum(zone.contains(d.bottom_centre) for d in dets)
    return f"{people(len(dets))}, {inside} in the zone"


def refuse_unless_allowed(cfg: Config, what: str) -> bool:
    if cfg.privacy.local_snapshots:
        return False
    print(f"stopsafe {what}: privacy.local_snapshots is false in the config: no picture is "
          "written", file=sys.stderr)
    return True


def cmd_snapshot(args: argparse.Namespace) -> int:
    from detector.models import ModelError
    from edge.runtime.frames import CameraError

    cfg = load(args.config)
    if refuse_unless_allowed(cfg, "snapshot"):
        return EX_PRIVACY
    out = Path(args.output)
    try:
        summary = write_snapshot(cfg, out, blur=args.blur, warmup_s=args.warmup)
    except CameraError as exc:
        print(f"stopsafe snapshot: camera: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except ModelError as exc:
        print(f"stopsafe snapshot: model: {exc}", file=sys.stderr)
        return EX_SOFTWARE
    print(f"wrote {out}: {summary}")
    return 0


def register(p: argparse.ArgumentParser) -> None:
    add_config_option(p, required=True)
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="picture to write")
    p.add_argument("--blur", action="store_true", help="pixelate people")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="seconds of frames to let the camera settle (default 1)")
    p.set_defaults(func=cmd_snapshot)
