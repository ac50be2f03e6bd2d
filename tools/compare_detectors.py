"""Compare detector settings on the shared scenarios: the table of docs/detectors.md.

    .venv/bin/python tools/compare_detectors.py [--scenarios a,b] [--backends ssd,yolox]
        [--scores 0.3,0.4,0.5] [--tiling off,x2,x1] [--enhance off,gamma,clahe] [--crop 1,0]
        [--defaults] [--json OUT.json] [--markdown OUT.md]

Every row is one ``stopsafe sim`` run of a scenario with one profile (no night switch): the
backend, threshold, tiling (off, or tiles of 2x / 1x the model's input side) and the enhancement
of dark frames. Enhancement variants only run on scenarios that have dark frames (on the others
they would repeat the 'off' row exactly). ``--defaults`` adds one row per scenario with the
built-in defaults (day and night profiles). Cost columns are per processed frame on this machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import structlog

from edge.config import Config
from sim.runner import run_scenario
from sim.scenario import load_scenario

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
MODELS = {"ssd": "ssd_mobilenet_v1_coco_quant.tflite", "yolox": "yolox_nano_fp16.tflite"}
TILING = {"off": None, "x2": 2.0, "x1": 1.0}


def variant(backend: str, score: float, tiling: str, enhance: str, crop: bool) -> dict[str, Any]:
    scale = TILING[tiling]
    v: dict[str, Any] = {
        "backend": backend, "model": MODELS[backend], "score_threshold": score,
        "tiling": scale is not None, "tile_scale": scale or 2.0, "crop_to_zone": crop,
        "night": None, "wide": None, "enhance": "off" if enhance == "off" else "dark",
    }
    if enhance != "off":
        v["enhance_method"] = enhance
    return v


def label(v: dict[str, Any] | None) -> dict[str, str]:
    if v is None:
        return {"setting": "defaults", "tiling": "", "enhance": ""}
    tiles = f"x{v['tile_scale']:g}" if v["tiling"] else "off"
    enh = v.get("enhance_method", "off") if v["enhance"] != "off" else "off"
    crop = "" if v["crop_to_zone"] else " no-crop"
    return {"setting": f"{v['backend']} {v['score_threshold']:g}{crop}", "tiling": tiles,
            "enhance": enh}


def one(name: str, v: dict[str, Any] | None, shared: Path) -> dict[str, Any]:
    cfg = Config.model_validate({"detector": v} if v is not None else {})
    sc = load_scenario(shared / "clips" / name / "scenario.yaml")
    r = run_scenario(sc, cfg)
    row = {"scenario": name, "variant": v, **label(v), "occupancy": r["occupancy"],
           "light": r["light"], "detection": r.get("detection"), "perf": r["perf"]}
    print(json.dumps({k: row[k] for k in ("scenario", "setting", "tiling", "enhance")}
                     | {"occ_f1": r["occupancy"]["f1"], "occ_r": r["occupancy"]["recall"],
                        "det": r.get("detection"), "perf": r["perf"]}),
          file=sys.stderr, flush=True)
    return row


def _f(x: Any, nd: int = 3) -> str:
    return "-" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| scenario | setting | tiles | enhance | occ P | occ R | occ F1 | light agr. "
            "| latency max s | det P | det R | runs/frame | invoke ms/frame | frame ms |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        o, li, d, p = r["occupancy"], r["light"], r["detection"] or {}, r["perf"]
        lines.append(
            f"| {r['scenario']} | {r['setting']} | {r['tiling']} | {r['enhance']} "
            f"| {_f(o['precision'], 2)} | {_f(o['recall'], 2)} | {_f(o['f1'])} "
            f"| {_f(li['agreement'])} | {_f(li['on_latency_s']['max'], 1)} "
            f"| {_f(d.get('precision'))} | {_f(d.get('recall'))} "
            f"| {_f(p['invokes_per_frame'], 1)} | {_f(p['invoke_ms_p50'], 1)} "
            f"| {_f(p['frame_ms_p50'], 1)} |")
    return head + "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="one-by-one,tud-campus,mot17-04,llvip-night-dev")
    ap.add_argument("--backends", default="ssd,yolox")
    ap.add_argument("--scores", default="0.3,0.4,0.5")
    ap.add_argument("--tiling", default="off,x2,x1")
    ap.add_argument("--enhance", default="off,gamma,clahe")
    ap.add_argument("--crop", default="1")
    ap.add_argument("--defaults", action="store_true")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    a = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    rows = []
    for name in a.scenarios.split(","):
        if a.defaults:
            rows.append(one(name, None, a.shared))
        dark: bool | None = None
        for b, s, t, e, c in itertools.product(
                a.backends.split(","), a.scores.split(","), a.tiling.split(","),
                a.enhance.split(","), a.crop.split(",")):
            if e != "off" and dark is False:
                continue
            row = one(name, variant(b, float(s), t, e, c == "1"), a.shared)
            rows.append(row)
            if e == "off":
                dark = row["perf"].get("dark_frames", 0) > 0
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    table = markdown(rows)
    if a.markdown:
        a.markdown.write_text(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
