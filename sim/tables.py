"""The ``stopsafe sim`` command: run scenarios, print scores (JSON or a table)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge.cli.common import console
from edge.config import Config, ConfigError
from sim.broker import Broker
from sim.expectations import Status, Verdict, judge_all
from sim.injection import FaultKind
from sim.junit import write_junit
from sim.own_light import OwnLight
from sim.progress import clip_bar, terminal_progress
from sim.runner import run_scenario
from sim.scenario import load_scenario


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def results_table(results: list[dict]) -> Table:
    t = Table(title="stopsafe sim")
    for col in ("scenario", "frames", "occ f1", "agreement", "latency max s", "false on s",
                "missed", "switches", "fps", "invoke ms", "frame ms"):
        t.add_column(col, justify="right" if col != "scenario" else "left")
    for r in results:
        o, li, p = r["occupancy"], r["light"], r["perf"]
        t.add_row(r["name"], _fmt(r["frames"]), _fmt(o["f1"]), _fmt(li["agreement"]),
                  _fmt(li["on_latency_s"]["max"]), _fmt(li["false_on_s"]),
                  _fmt(li["missed_waits"]), _fmt(li["switches"]), _fmt(p["fps"]),
                  _fmt(p["invoke_ms_p50"]), _fmt(p["frame_ms_p50"]))
    return t


def run_sim(cfg: Config, args: argparse.Namespace) -> int:
    scenarios = [load_scenario(p) for p in args.scenarios]  # all validated before any runs
    needs_broker = any(f.kind is FaultKind.BROKER_DOWN for sc in scenarios for f in sc.faults)
    if needs_broker and not getattr(args, "own_broker", False):
        raise ConfigError(f"{args.scenarios[0]}: faults: broker_down needs a broker the "
                          "simulator runs itself: add --own-broker")
    if getattr(args, "own_broker", False):
        with tempfile.TemporaryDirectory(prefix="stopsafe-broker-") as tmp:
            broker = Broker(Path(tmp))
            broker.start()
            try:
                cfg = cfg.model_copy(deep=True)
                m = cfg.mqtt
                m.enabled, m.host, m.port = True, broker.host, broker.port
                m.outbox.path = Path(tmp) / "outbox.sqlite"
                return _run(cfg, args, scenarios, broker)
            finally:
                broker.stop()
    return _run(cfg, args, scenarios, None)


def _run(cfg: Config, args: argparse.Namespace, scenarios: list, broker: Broker | None) -> int:
    from edge.cli.common import EX_UNAVAILABLE
    from edge.runtime.frames import CameraError

    err = console(stderr=True)
    report = Path(args.report) if args.report else None
    extra = dict(getattr(args, "expect", None) or [])  # --expect: for every scenario
    verdicts: list[Verdict] = []
    with terminal_progress(err) as progress:
        for i, (sc, source) in enumerate(zip(scenarios, args.scenarios, strict=True)):
            if getattr(args, "own_light", False) and sc.own_light is None:
                sc = sc.model_copy(update={"own_light": OwnLight()})
            label = sc.name if len(scenarios) == 1 else f"[{i + 1}/{len(scenarios)}] {sc.name}"
            bar = clip_bar(progress, label, sc.clip_s)
            t0 = time.monotonic()
            try:
                result = run_scenario(
                    sc, cfg, realtime=args.realtime, report_dir=report, broker=broker,
                    config_path=Path(args.config) if getattr(args, "config", None) else None,
                    sinks=(bar,))
            except CameraError as exc:  # a clip that ends early or breaks: no scores
                verdicts.append(Verdict(sc.name, str(source), time.monotonic() - t0, None, [],
                                        error=str(exc)))
                continue
            finally:
                bar.done()
            outcomes = judge_all(sc.name, {**sc.expect, **extra}, result, sc.truth.gives)
            if outcomes:
                result["expectations"] = [o.as_json() for o in outcomes]
            verdicts.append(Verdict(sc.name, str(source), time.monotonic() - t0, result,
                                    outcomes))
    results = [v.result for v in verdicts if v.result is not None]
    if args.json and results:
        doc = results[0] if len(scenarios) == 1 else results
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    if results:
        (err if args.json else console()).print(results_table(results))
    print_outcomes(verdicts, err if args.json else console())
    if getattr(args, "junit", None):
        write_junit(Path(args.junit), verdicts)
    for v in verdicts:  # last, so a log's last line says why (no scores of half a clip)
        if v.error:
            print(f"stopsafe: {v.error}", file=sys.stderr)
    if any(v.error for v in verdicts):
        return EX_UNAVAILABLE
    return 1 if any(v.failed for v in verdicts) else 0


STYLES = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}


def print_outcomes(verdicts: list[Verdict], out: Console) -> None:
    """One line an expectation (PASS/FAIL/SKIP, the figure and the limit), then a count."""
    outcomes = [o for v in verdicts for o in v.outcomes]
    for o in outcomes:
        out.print(o.line(), style=STYLES[o.status], markup=False, highlight=False,
                  soft_wrap=True)
    if outcomes:
        counts = {s: sum(o.status is s for o in outcomes) for s in Status}
        failed = ", ".join(f"{o.scenario} {o.key}" for o in outcomes if o.status is Status.FAIL)
        out.print(f"expectations: {counts[Status.PASS]} passed, {counts[Status.FAIL]} failed"
                  + (f" ({failed})" if failed else "")
                  + (f", {counts[Status.SKIP]} skipped" if counts[Status.SKIP] else ""),
                  markup=False, highlight=False, soft_wrap=True)
