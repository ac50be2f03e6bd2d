"""``stopsafe sim SCENARIO.yaml...``: the pipeline on recorded clips with the mock relay."""

from __future__ import annotations

import argparse
import sys

from edge.cli.common import (
    EX_UNAVAILABLE,
    add_config_option,
    add_log_option,
    load,
    report_logging,
)


def cmd_sim(args: argparse.Namespace) -> int:
    from edge.runtime.frames import CameraError
    from sim.tables import run_sim

    cfg = load(args.config)
    report_logging(cfg, args)
    try:
        return run_sim(cfg, args)
    except CameraError as exc:  # a clip that ends early or breaks: no scores of half a clip
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="+", help="scenario.yaml files")
    add_config_option(p, required=False)
    add_log_option(p)
    p.add_argument("--json", action="store_true", help="print only the JSON scores on stdout")
    p.add_argument("--report", metavar="DIR",
                   help="write timeline and snapshot pictures, in DIR/<scenario name>/")
    p.add_argument("--realtime", action="store_true", help="play clips at their own pace")
    p.add_argument("--own-broker", action="store_true",
                   help="run a private mosquitto and publish to it (needed for broker_down "
                   "faults, which stop and start it)")
    p.add_argument("--own-light", action="store_true",
                   help="the floor light changes the picture while the relay is on (a warm "
                   "pool, the rest darker, an exposure jump at each switch; sim/own_light.py), "
                   "for scenarios that do not set their own_light")
    p.add_argument("--expect", action="append", type=_expectation, metavar="KEY=VALUE",
                   help="a threshold for every scenario, over the scenario's own "
                   "(repeatable); exit 1 when one is missed. KEY: " + _keys())
    p.add_argument("--junit", metavar="FILE",
                   help="write a JUnit XML report: one testcase per scenario and expectation")
    p.set_defaults(func=cmd_sim)


def _keys() -> str:
    from sim.expectations import accepted_keys

    return accepted_keys()


def _expectation(text: str) -> tuple[str, float]:
    from sim.expectations import parse_option

    try:
        return parse_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
