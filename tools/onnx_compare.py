"""``make onnx-compare``: the simulator's scores with YOLOX on LiteRT (``yolox``) and on ONNX
Runtime (``yolox_onnx``, CPU provider here) side by side, on one-by-one, tud-campus, mot17-04
and llvip-night-dev, with the same settings: the default config with every profile (day, wide,
night) on YOLOX-nano, only the back-end and its model file swapped. Exit status 1 when a score
differs by more than 0.01. Several minutes on the 2-core test machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLIPS = ("one-by-one", "tud-campus", "mot17-04", "llvip-night-dev")
BACKENDS = (("yolox", "yolox_nano_fp16.tflite"), ("yolox_onnx", "yolox_nano.onnx"))
TOLERANCE = 0.01
SCORES = (("occupancy", "precision"), ("occupancy", "recall"), ("occupancy", "f1"),
          ("light", "agreement"), ("detection", "precision"), ("detection", "recall"))


def config_for(backend: str, model: str, models_dir: Path):
    from edge.config import Config, DetectorBackend, OnnxProvider

    cfg = Config()
    d = cfg.detector
    d.models_dir = models_dir
    d.backend, d.model = DetectorBackend(backend), model
    d.onnx.providers = [OnnxProvider.CPU]
    for profile in (d.wide, d.night):
        if profile is not None:
            profile.backend, profile.model = DetectorBackend(backend), model
    return cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared",
                   default=os.environ.get("STOPSAFE_SHARED", str(REPO.parent / "shared")))
    p.add_argument("--clips", nargs="+", default=list(CLIPS))
    args = p.parse_args(argv)
    from sim.runner import run_scenario
    from sim.scenario import load_scenario

    models_dir = REPO / "models"
    problems = []
    print(f"{'clip':<17}{'score':<22}{'yolox (LiteRT)':>16}{'yolox_onnx':>12}{'diff':>9}")
    for clip in args.clips:
        sc = load_scenario(Path(args.shared) / "clips" / clip / "scenario.yaml")
        runs = [run_scenario(sc, config_for(b, m, models_dir)) for b, m in BACKENDS]
        for section, key in SCORES:
            a, b = (r.get(section, {}).get(key) for r in runs)
            if a is None and b is None:
                continue
            diff = None if a is None or b is None else abs(a - b)
            bad = diff is None or diff > TOLERANCE
            print(f"{clip:<17}{section + ' ' + key:<22}{_f(a):>16}{_f(b):>12}{_f(diff):>9}"
                  + ("  <- over 0.01" if bad else ""))
            if bad:
                problems.append(f"{clip} {section} {key}: {_f(a)} against {_f(b)}")
        sw = [r["light"]["switches"] for r in runs]
        print(f"{clip:<17}{'light switches':<22}{_f(sw[0]):>16}{_f(sw[1]):>12}")
    if problems:
        print("yolox_onnx DIFFERS from yolox by more than 0.01:\n  " + "\n  ".join(problems))
        return 1
    print(f"yolox_onnx within {TOLERANCE} of yolox on every score of {', '.join(args.clips)}")
    return 0


def _f(v: float | None) -> str:
    if v is None:
        return "-"
    return str(v) if isinstance(v, int) else f"{v:.4f}"


if __name__ == "__main__":
    sys.exit(main())
