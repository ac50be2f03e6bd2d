"""The ``stopsafe sim`` command: run scenarios, print scores (JSON or a table)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edge.config import Config, ConfigError
from sim.broker import Broker
from sim.injection import FaultKind
from sim.own_light import OwnLight
from sim.runner import run_scenario
from sim.scenario import load_scenario


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def console(stderr: bool = False) -> Console:
    """Rich output; when not on a terminal (a log, CI) wide enough that no figure is cut."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


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
    err = console(stderr=True)
    report = Path(args.report) if args.report else None
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=err,
                  disable=len(scenarios) < 2) as progress:
        task = progress.add_task("scenarios", total=len(scenarios))
        for sc in scenarios:
            if getattr(args, "own_light", False) and sc.own_light is None:
                sc = sc.model_copy(update={"own_light": OwnLight()})
            progress.update(task, description=sc.name)
            results.append(run_scenario(
                sc, cfg, realtime=args.realtime, report_dir=report, broker=broker,
                config_path=Path(args.config) if getattr(args, "config", None) else None))
            progress.advance(task)
    if args.json:
        doc = results[0] if len(results) == 1 else results
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        err.print(results_table(results))
    else:
        console().print(results_table(results))
    return 0
