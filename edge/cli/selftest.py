"""``stopsafe selftest -c CONFIG [--picture FILE]``: one pass/fail line per check."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.cli.common import add_config_option, add_log_option, load, report_logging


def print_checks(checks) -> None:
    for c in checks:
        print(c.line())


def cmd_selftest(args: argparse.Namespace) -> int:
    from edge.install.commissioning import run_selftest

    cfg = load(args.config)
    report_logging(cfg, args)
    result = run_selftest(cfg, picture=Path(args.picture) if args.picture else None,
                          seconds=args.seconds, pulse_s=args.pulse,
                          config_path=Path(args.config))
    if args.json:
        print(json.dumps({"passed": result.passed,
                          "checks": [c.as_json() for c in result.checks]}, indent=2))
    else:
        print_checks(result.checks)
    failed = [c.name for c in result.checks if c.status.value == "fail"]
    print(f"selftest: {'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'}",
          file=sys.stderr)
    return 1 if failed else 0


def add_selftest_options(p: argparse.ArgumentParser) -> None:
    add_config_option(p, required=True)
    add_log_option(p)
    p.add_argument("--picture", metavar="FILE",
                   help="a picture with a person in it: the model must find them")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="how long to read the camera (default 3)")
    p.add_argument("--pulse", type=float, default=1.0,
                   help="how long the relay is switched on (default 1 s)")


def register(p: argparse.ArgumentParser) -> None:
    add_selftest_options(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_selftest)
