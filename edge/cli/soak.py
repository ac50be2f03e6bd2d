"""``stopsafe soak SCENARIO.yaml [--minutes N] [-c CONFIG] [--own-broker]``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edge.cli.common import add_config_option, add_log_option, load, report_logging


def cmd_soak(args: argparse.Namespace) -> int:
    from sim.progress import terminal_progress, wall_bar
    from sim.scenario import load_scenario
    from sim.soak import soak
    from sim.tables import console

    cfg = load(args.config)
    report_logging(cfg, args)
    sc = load_scenario(args.scenario)
    broker = None
    with tempfile.TemporaryDirectory(prefix="stopsafe-soak-") as tmp:
        if args.own_broker:
            from sim.broker import Broker

            broker = Broker(Path(tmp))
            broker.start()
            cfg.mqtt.enabled, cfg.mqtt.host, cfg.mqtt.port = True, broker.host, broker.port
            cfg.mqtt.outbox.path = Path(tmp) / "outbox.sqlite"
        try:
            with terminal_progress(console(stderr=True)) as progress:
                bar = wall_bar(progress, f"soak {sc.name}", args.minutes * 60.0)
                report = soak(sc, cfg, args.minutes, warmup_s=args.warmup, sinks=(bar,))
        finally:
            if broker is not None:
                broker.stop()
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    ok = report["timelines_identical"] and report["rss_mb"]["growth"] < 5.0
    return 0 if ok else 1


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario.yaml")
    p.add_argument("--minutes", type=float, default=20.0, help="how long (default 20)")
    p.add_argument("--warmup", type=float, default=60.0,
                   help="seconds before the memory baseline is taken (default 60)")
    add_config_option(p, required=False)
    add_log_option(p)
    p.add_argument("--own-broker", action="store_true",
                   help="start a private mosquitto and publish to it (MQTT connected)")
    p.set_defaults(func=cmd_soak)
