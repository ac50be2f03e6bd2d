"""Write the hydrant-on-a-street scenario (issue 25): a still person-shaped picture in view for
13 minutes while cars drive over it and real walkers cross in front of it every half minute,
darkened so the night profile (YOLOX-nano) looks at it. See sim/street.py.

    .venv/bin/python tools/make_street_scenario.py OUT_DIR [--shared ../shared] [--minutes 13]
    .venv/bin/stopsafe sim OUT_DIR/scenario.yaml -c OUT_DIR/static120.yaml --json

OUT_DIR gets img/ (frames: keep them out of git), scenario.yaml, presence.csv (the walkers),
static120.yaml (static.after_s 120 s) and mask.yaml (a mask over the still picture).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from edge.config import Config
from edge.decision.zones import box_polygon
from edge.runtime.assembly import detect_once
from sim.street import street_scenario


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--minutes", type=float, default=13.0)
    ap.add_argument("--every-s", type=float, default=30.0, help="a car or a walker this often")
    ap.add_argument("--darken", type=float, default=0.6, help="1: as filmed (the day model)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    path, thing, frame_wh = street_scenario(args.shared, args.out, detect_once(Config()),
                                  duration_s=args.minutes * 60.0, every_s=args.every_s,
                                  darken=args.darken, seed=args.seed)
    mask = [list(p) for p in box_polygon(thing.box(frame_wh))]
    for name, doc in (("static120", {"static": {"after_s": 120.0}}),
                      ("mask", {"zone": {"masks": [mask]}})):
        (args.out / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
