"""How much a real person's box and crop change over time, against a pasted picture that does
not: the figures behind the static rule's defaults (docs/detectors.md, "Static objects").

    .venv/bin/python tools/measure_static.py [--shared ../shared] [--no-adaptive] [--json OUT]

Every shared clip (and a generated scenario: a person cut out of one-by-one and pasted,
unchanging, into intel-carpark-empty) runs through the simulator with the defaults; every box
of every confirmed track in the zone is kept with its crop signature. Then, for a grid of
tolerances, the static rule itself is replayed on each track's boxes: the longest time the place
it stood on stayed still. A real person's longest run must stay
far below ``static.after_s``; the pasted picture's must last as long as it was shown.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import structlog

from detector.base import Detection
from edge.config import Config
from edge.decision.static import StaticSettings, StaticWatch, box_change, picture_change
from edge.decision.tracker import Track
from sim.runner import simulate
from sim.scenario import load_scenario

BOX_TOLS = (0.03, 0.05, 0.08)
PIC_TOLS = (0.15, 0.25, 0.35)
GRACES = (0.0, 3.0)
CLIPS = ("one-by-one", "tud-campus", "mot17-04", "intel-carpark-empty")  # llvip: unrelated stills


class TrackLog:
    """A sink: the boxes of confirmed people in the zone, per track, when seen."""

    def __init__(self) -> None:
        self.boxes: dict[int, list[tuple[float, Detection]]] = defaultdict(list)

    def on_record(self, r: Any) -> None:
        if r.frame is None:
            return
        for p in r.state.people:
            if p.seen_now and p.in_zone:
                self.boxes[p.id].append((r.frame.t, p.box))

    def close(self) -> None:
        pass


def longest_run(seen: list[tuple[float, Detection]], s: StaticSettings) -> float:
    """The static rule itself replayed on one track's boxes: the longest time the place it
    stood on was still."""
    watch = StaticWatch(s)
    best = 0.0
    for t, box in seen:
        track = Track(1, box, t, t)
        watch.update([track], t)
        best = max(best, watch.unchanged_s(track, t))
    return best


def lag_changes(seen: list[tuple[float, Detection]], lag_s: float) -> list[tuple[float, float]]:
    """(box change, picture change) between boxes about ``lag_s`` apart."""
    out = []
    j = 0
    for i, (t, box) in enumerate(seen):
        while j < len(seen) and seen[j][0] < t + lag_s:
            j += 1
        if j >= len(seen):
            break
        other = seen[j][1]
        pic = picture_change(box.signature, other.signature)
        if pic is not None and seen[j][0] - t <= 1.5 * lag_s and i != j:
            out.append((box_change(box, other), pic))
    return out


def _box(d: Detection) -> tuple[float, ...]:
    return (d.x1, d.y1, d.x2, d.y2, d.score)


def pasted_scenario(shared: Path, out: Path, cfg: Config) -> Path:
    """A person from one-by-one pasted from 5 s to 55 s into a minute of intel-carpark-empty."""
    from edge.runtime.assembly import detect_once
    from sim.synth import EMPTY_CLIP, pasted_person, write_scenario

    paste, _ = pasted_person(shared, detect_once(cfg), 5.0, 55.0)
    return write_scenario(out, shared / EMPTY_CLIP, [paste], duration_s=60.0, name="pasted")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))], 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--no-adaptive", action="store_true", help="every frame looked at")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    cfg = Config()
    cfg.adaptive.enabled = not args.no_adaptive
    cfg.static.enabled = False  # measure, do not act
    report: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {c: args.shared / "clips" / c / "scenario.yaml" for c in CLIPS}
        paths["pasted (not a person)"] = pasted_scenario(args.shared, Path(tmp) / "pasted", cfg)
        for name, path in paths.items():
            log = TrackLog()
            simulate(load_scenario(path), cfg, sinks=(log,))
            tracks = [v for v in log.boxes.values() if len(v) >= 3]
            runs = {f"{b}/{p}/{g:g}": round(max(
                [longest_run(v, StaticSettings(1.0, b, p, g, cfg.static.decay)) for v in tracks]
                or [0.0]), 2)
                for g in GRACES for b in BOX_TOLS for p in PIC_TOLS}
            raw[name] = {str(k): [(t, list(_box(d)), d.signature.hex()) for t, d in v]
                         for k, v in log.boxes.items()}
            lags = {}
            for lag in (1.0, 5.0):
                ch = [c for v in tracks for c in lag_changes(v, lag)]
                box, pic = [c[0] for c in ch], [c[1] for c in ch]
                lags[f"{lag:g}s"] = {"pairs": len(ch), "box_p10": pct(box, 0.1),
                                     "box_p50": pct(box, 0.5), "pic_p10": pct(pic, 0.1),
                                     "pic_p50": pct(pic, 0.5)}
            report[name] = {"tracks": len(tracks),
                            "seen_s": round(sum(v[-1][0] - v[0][0] for v in tracks), 1),
                            "longest_run_s": runs, "changes": lags}
            print(name, json.dumps(report[name]), file=sys.stderr)
    print("| clip | tracks | seen s | " + " | ".join(f"run {k}" for k in
                                                    next(iter(report.values()))["longest_run_s"])
          + " |")
    for name, r in report.items():
        print(f"| {name} | {r['tracks']} | {r['seen_s']} | "
              + " | ".join(str(v) for v in r["longest_run_s"].values()) + " |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        args.json.with_suffix(".tracks.json").write_text(json.dumps(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
