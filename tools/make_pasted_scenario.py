"""Write the pasted-person scenario (a person cut out of one-by-one, pasted unchanging into a
minute of intel-carpark-empty) with configs for the static, mask and max_on cases.

    .venv/bin/python tools/make_pasted_scenario.py OUT_DIR [--shared ../shared]
    .venv/bin/stopsafe sim OUT_DIR/scenario.yaml -c OUT_DIR/static.yaml --json

OUT_DIR gets img/ (frames: keep them out of git), scenario.yaml, presence.csv (nobody real),
and static.yaml (static.after_s 15 s), mask.yaml (a mask over the pasted picture) and
max_on.yaml (static rule off, light.max_on_s 10 s). The tests build the same scenario
(tests/test_static_scenarios.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from edge.config import Config
from edge.decision.zones import box_polygon
from edge.runtime.assembly import detect_once
from sim.synth import EMPTY_CLIP, pasted_person, write_scenario

PASTE_FROM, PASTE_TO = 5.0, 45.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args(argv)
    paste, frame_wh = pasted_person(args.shared, detect_once(Config()), PASTE_FROM, PASTE_TO)
    path = write_scenario(args.out, args.shared / EMPTY_CLIP,
                          [paste], duration_s=60.0, name="pasted-person")
    mask = [list(p) for p in box_polygon(paste.box(frame_wh))]
    for name, doc in (("static", {"static": {"after_s": 15.0}}),
                      ("mask", {"zone": {"masks": [mask]}}),
                      ("max_on", {"static": {"enabled": False}, "light": {"max_on_s": 10.0}})):
        (args.out / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
