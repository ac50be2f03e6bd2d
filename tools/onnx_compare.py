"""``make onnx-compare``: the simulator's scores with YOLOX on LiteRT (``yolox``) and on ONNX
Runtime (``yolox_onnx``, CPU provider here) side by side, on one-by-one, tud-campus, mot17-04
and llvip-night-dev, with the same settings: the default config with every profile (day, wide,
night) on YOLOX-nano, only the back-end and its model file swapped.

Two comparisons a clip, because the two shared files do not hold the same weights: the TFLite
file stores them as float16 (see ``sim.fp16_weights``).

1. The back-end: ``yolox`` on ``yolox_nano_fp16.tflite`` against ``yolox_onnx`` on
   ``yolox_nano.onnx`` with its weights rounded to float16, i.e. the same weights. Every score
   (occupancy, light agreement, detection precision and recall) within 0.01, and the same
   switches at the same clip times.
2. The shipped files as they are (float32 ONNX): occupancy and light agreement within 0.01 and
   the same switches; the detection scores are printed beside them, with the difference the
   weights make, and do not fail the check.

Exit status 1 when a checked score differs by more than 0.01 or a switch differs. About 6
minutes on the 2-core test machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLIPS = ("one-by-one", "tud-campus", "mot17-04", "llvip-night-dev")
TFLITE, ONNX, ONNX_W16 = "yolox_nano_fp16.tflite", "yolox_nano.onnx", "yolox_nano_w16.onnx"


def config_for(backend: str, model: str, models_dir: Path):
    from edge.config import Config, DetectorBackend, OnnxProvider

    cfg = Config()
    d = cfg.detector
    d.models_dir = models_dir
    d.backend, d.model = DetectorBackend(backend), model
    d.verify_hash = model != ONNX_W16  # the rounded copy is made here, so in no manifest
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
    from sim import compare
    from sim.fp16_weights import round_weights_to_fp16
    from sim.runner import run_scenario
    from sim.scenario import load_scenario

    shipped = REPO / "models"
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="stopsafe-onnx-") as tmp:
        variant = Path(tmp)
        round_weights_to_fp16(shipped / ONNX, variant / ONNX_W16)
        for clip in args.clips:
            sc = load_scenario(Path(args.shared) / "clips" / clip / "scenario.yaml")
            lite = ("yolox", run_scenario(sc, config_for("yolox", TFLITE, shipped)))
            same = ("onnx fp16 weights",
                    run_scenario(sc, config_for("yolox_onnx", ONNX_W16, variant)))
            fp32 = ("onnx as shipped", run_scenario(sc, config_for("yolox_onnx", ONNX, shipped)))
            print(f"\n{clip}: 1. the back-end, same weights (every score checked)")
            problems += compare.scores_side_by_side(clip, lite, same,
                                                   compare.OCCUPANCY + compare.DETECTION)
            problems += compare.switches_side_by_side(clip, lite, same)
            print(f"{clip}: 2. the shipped float32 file (occupancy, agreement, switches checked; "
                  "detection shown, not checked)")
            problems += compare.scores_side_by_side(clip, lite, fp32, compare.OCCUPANCY)
            problems += compare.switches_side_by_side(clip, lite, fp32)
            # what the float16 rounding of the TFLite file's weights does to the boxes
            compare.scores_side_by_side(clip, lite, fp32, compare.DETECTION)
    if problems:
        print("\nyolox_onnx DIFFERS from yolox:\n  " + "\n  ".join(problems))
        return 1
    print(f"\nyolox_onnx within {compare.TOLERANCE} of yolox on {', '.join(args.clips)}: "
          "every score with the same weights; occupancy, agreement and switches with the "
          "shipped file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
