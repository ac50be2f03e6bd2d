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

import cv2
import yaml

from edge.config import Config
from edge.runtime.assembly import build_detector
from sim.synth import Paste, box_polygon, cut_out, read_frame, write_scenario

PASTE_FROM, PASTE_TO = 5.0, 45.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args(argv)
    frame = read_frame(args.shared / "clips/one-by-one/one-by-one-person-detection.mp4", 14.0)
    det = build_detector(Config())
    try:
        box = max(det.detect(frame).detections, key=lambda d: d.score)
    finally:
        det.close()
    patch = cv2.resize(cut_out(frame, box), None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    paste = Paste(patch, 40, 40, PASTE_FROM, PASTE_TO)
    path = write_scenario(args.out, args.shared / "clips/intel-carpark-empty/car-detection.mp4",
                          [paste], duration_s=60.0, name="pasted-person")
    mask = [list(p) for p in box_polygon(paste.box((frame.shape[1], frame.shape[0])))]
    for name, doc in (("static", {"static": {"after_s": 15.0}}),
                      ("mask", {"zone": {"masks": [mask]}}),
                      ("max_on", {"static": {"enabled": False}, "light": {"max_on_s": 10.0}})):
        (args.out / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
