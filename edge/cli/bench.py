"""``stopsafe bench SCENARIO.yaml [-c CONFIG] [--json] [--compare-adaptive]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from edge.cli.common import load
from sim.tables import console


def _table(doc: dict[str, Any]) -> Table:
    m = doc["machine"]
    t = Table(title=f"stopsafe bench: {doc['name']} ({doc['frames']} frames, "
              f"{doc['frames_detected']} detected, adaptive {'on' if doc['adaptive'] else 'off'})",
              caption=f"{m['cpu']}, {m['cores']} cores, {m['threads']} threads, {m['runtime']}")
    t.add_column("stage")
    for col in ("p50 ms", "p95 ms", "skipped p50 ms"):
        t.add_column(col, justify="right")
    det, skip = doc["stages_ms"]["detected_frames"], doc["stages_ms"]["skipped_frames"]
    for stage, st in det.items():
        t.add_row(stage, str(st["p50"]), str(st["p95"]), str(skip[stage]["p50"]))
    t.add_row("bare invoke", str(doc["bare_invoke_ms"]["p50"]), str(doc["bare_invoke_ms"]["p95"]),
              "")
    return t


def _summary(doc: dict[str, Any]) -> str:
    return (f"fps {doc['fps']}  frame/bare-invoke {doc['frame_over_bare_invoke']}  "
            f"invocations {doc['invocations']}  CPU s per s of footage {doc['cpu_s_per_s']}  "
            f"peak RSS {doc['peak_rss_mb']} MB")


def cmd_bench(args: argparse.Namespace) -> int:
    from sim.profiling import bench
    from sim.scenario import load_scenario

    cfg = load(args.config)
    sc = load_scenario(args.scenario)
    runs = []
    if args.compare_adaptive:
        for enabled in (False, True):
            c = cfg.model_copy(deep=True)
            c.adaptive.enabled = enabled
            runs.append(bench(sc, c))
    else:
        runs.append(bench(sc, cfg))
    if args.compare_adaptive:
        fixed, adaptive = runs
        ratio = {
            "invocations_fixed_over_adaptive": round(
                fixed["invocations"] / max(1, adaptive["invocations"]), 2),
            "cpu_fixed_over_adaptive": round(
                fixed["cpu_s_per_s"] / adaptive["cpu_s_per_s"], 2)
            if adaptive["cpu_s_per_s"] else None,
        }
    out = console(stderr=args.json)
    for doc in runs:
        out.print(_table(doc))
        out.print(_summary(doc))
    if args.compare_adaptive:
        out.print(f"fixed rate / adaptive: invocations x{ratio['invocations_fixed_over_adaptive']}"
                  f", CPU x{ratio['cpu_fixed_over_adaptive']}")
    if args.json:
        doc: Any = runs[0] if len(runs) == 1 else {"fixed": runs[0], "adaptive": runs[1],
                                                    **ratio}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time each stage of the pipeline on a scenario's clip")
    p.add_argument("scenario", help="scenario.yaml (its clip is played as fast as possible)")
    p.add_argument("-c", "--config", help="config file (default: built-in defaults)")
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument("--compare-adaptive", action="store_true",
                   help="run with a fixed full rate and with the adaptive rate, and compare")
    p.set_defaults(func=cmd_bench)
