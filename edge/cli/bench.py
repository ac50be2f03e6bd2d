"""``stopsafe bench SCENARIO.yaml... [-c CONFIG] [--json] [--compare-adaptive]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from edge.cli.common import add_config_option, add_log_option, load, report_logging


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


def compare_table(docs: list[dict[str, Any]]) -> Table:
    """Per clip, fixed rate against adaptive: cost and the light's scores side by side."""
    from sim.tables import _fmt

    t = Table(title="stopsafe bench --compare-adaptive (fixed rate / adaptive)")
    for col in ("scenario", "rate", "frames", "detector frames", "model runs", "runs/frame",
                "CPU s/s", "latency max s", "missed", "false on s", "occ f1", "det P/R"):
        t.add_column(col, justify="left" if col in ("scenario", "rate") else "right")
    for d in docs:
        for name in ("fixed", "adaptive"):
            r = d[name]
            sc = r["scores"]
            li, det = sc["light"], sc.get("detection")
            pr = f"{_fmt(det['precision'])}/{_fmt(det['recall'])}" if det else "-"
            t.add_row(d["name"] if name == "fixed" else "", name, _fmt(r["frames"]),
                      _fmt(r["frames_detected"]), _fmt(r["invocations"]),
                      _fmt(r["runs_per_detected_frame"]), _fmt(r["cpu_s_per_s"]),
                      _fmt(li["on_latency_s"]["max"]), _fmt(li["missed_waits"]),
                      _fmt(li["false_on_s"]), _fmt(sc["occupancy"]["f1"]), pr)
        t.add_row("", "saving", "", "", f"x{_fmt(d['invocations_fixed_over_adaptive'])}", "",
                  f"x{_fmt(d['cpu_fixed_over_adaptive'])}", "", "", "", "", "",
                  end_section=True)
    return t


def cmd_bench(args: argparse.Namespace) -> int:
    from sim.profiling import bench, compare_adaptive
    from sim.progress import clip_bar, terminal_progress
    from sim.scenario import load_scenario
    from sim.tables import console

    cfg = load(args.config)
    report_logging(cfg, args)
    scenarios = [load_scenario(p) for p in args.scenarios]  # all validated before any runs
    out = console(stderr=args.json)
    with terminal_progress(console(stderr=True)) as progress:
        def bar(sc: Any) -> tuple[Any, ...]:  # a bar over each clip pass, on a terminal only
            return (clip_bar(progress, sc.name, sc.clip_s),)

        if args.compare_adaptive:
            docs = [compare_adaptive(sc, cfg, sinks=bar(sc)) for sc in scenarios]
        else:
            runs = [bench(sc, cfg, sinks=bar(sc)) for sc in scenarios]
    if args.compare_adaptive:
        out.print(compare_table(docs))
        if args.json:
            doc: Any = docs[0] if len(docs) == 1 else docs
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    for doc in runs:
        out.print(_table(doc))
        out.print(_summary(doc))
    if args.json:
        sys.stdout.write(json.dumps(runs[0] if len(runs) == 1 else runs, indent=2) + "\n")
    return 0


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="+",
                   help="scenario.yaml files (each clip is played as fast as possible)")
    add_config_option(p, required=False)
    add_log_option(p)
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument("--compare-adaptive", action="store_true",
                   help="run each clip at a fixed full rate and with the adaptive rate, and "
                   "print per clip model runs, CPU, worst light latency, missed waits and false "
                   "light side by side")
    p.set_defaults(func=cmd_bench)
