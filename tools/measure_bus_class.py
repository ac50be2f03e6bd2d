"""The detectors' COCO ``bus`` class, measured: on pictures of buses (given as files; none ship
with the project) and, for false alarms, on every shared clip (no bus in any of them).

    .venv/bin/python tools/measure_bus_class.py [--shared ../shared] [--every 10] PICTURE...

Prints, per model (the SSD int8 and YOLOX-nano fp16 files in models/), each picture's bus boxes
(score, box) and, per clip, how many of the sampled frames had a bus box at or above 0.3 and
0.5. The figures are in docs/bus.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from detector.base import BUS
from detector.registry import create
from detector.settings import DetectorSettings
from edge.runtime.camera import frame_files

MODELS = {"ssd": "ssd_mobilenet_v1_coco_quant.tflite", "yolox": "yolox_nano_fp16.tflite"}
FLOORS = (0.3, 0.5)


def buses(det, image) -> list[tuple[float, list[float]]]:
    h, w = image.shape[:2]
    tensor, meta = det.preprocess(image)
    boxes = det.boxes_of(meta, det._run(tensor), (w, h), BUS, min(FLOORS))
    return sorted(((round(b.score, 3), [round(v, 3) for v in (b.x1, b.y1, b.x2, b.y2)])
                   for b in boxes), reverse=True)


def frames(clip: Path, every: int):
    if clip.is_dir():
        for f in frame_files(clip)[::every]:
            yield cv2.imread(str(f))
        return
    cap = cv2.VideoCapture(str(clip))
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % every == 0:
            yield img
        i += 1
    cap.release()


def main() -> None:
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("pictures", nargs="*", type=Path)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--every", type=int, default=10)
    args = ap.parse_args()
    out: dict = {}
    for key, model in MODELS.items():
        det = create(key, args.models / model, DetectorSettings(score_threshold=min(FLOORS)))
        res: dict = {"pictures": {}, "clips": {}}
        for p in args.pictures:
            res["pictures"][p.name] = buses(det, cv2.imread(str(p)))
        for sc in sorted((args.shared / "clips").glob("*/scenario.yaml")):
            doc = yaml.safe_load(sc.read_text())
            n, hits = 0, {f: 0 for f in FLOORS}
            for img in frames(sc.parent / doc["clip"], args.every):
                n += 1
                found = buses(det, img)
                for f in FLOORS:
                    hits[f] += any(s >= f for s, _ in found)
            res["clips"][doc["name"]] = {"frames": n, **{f"with_bus_{f}": hits[f]
                                                        for f in FLOORS}}
        det.close()
        out[key] = res
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
