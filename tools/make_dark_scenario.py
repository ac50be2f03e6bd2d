"""Write a night version of a shared clip with presence truth (issue 25): its frames darkened so
the night profile looks at them, the same zone, timings and truth. Night material with a
timeline (real people arriving, waiting and leaving; or nobody), for the night profile's false
light and for the own light at night (`stopsafe sim --own-light`).

    .venv/bin/python tools/make_dark_scenario.py ../shared/clips/one-by-one/scenario.yaml OUT
    .venv/bin/stopsafe sim OUT/scenario.yaml --json

OUT gets img/ (frames: keep them out of git), scenario.yaml and presence.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.scenario import load_scenario
from sim.synth import dark_copy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--gain", type=float, default=0.45, help="brightness factor (0.45: dark)")
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args(argv)
    print(dark_copy(load_scenario(args.scenario), args.out, gain=args.gain, fps=args.fps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
