"""``stopsafe history --db URL``: each stop's days in figures (table, JSON, CSV, chart)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_history(args: argparse.Namespace) -> int:
    from edge.config import EX_CONFIG
    from fleet.history import report
    from fleet.history.store import Store, StoreError

    try:
        store = Store(args.db)
    except StoreError as exc:
        print(f"stopsafe history: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        rows = report.build(store, args.days, args.stop)
    finally:
        store.close()
    if args.chart:
        what = f"stop {args.stop}" if args.stop else f"{len({r.stop for r in rows})} stops"
        report.chart(rows, Path(args.chart), f"stopsafe: {what}, last {args.days} days (UTC)")
        print(f"stopsafe history: chart written to {args.chart}", file=sys.stderr)
    if args.json:
        json.dump(report.as_json(rows), sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.csv:
        sys.stdout.write(report.as_csv(rows))
    elif not args.chart or args.table:
        from sim.tables import console

        console().print(report.table(rows))
    return 0


def _days(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 3660:
        raise argparse.ArgumentTypeError("between 1 and 3660")
    return value


def register(p: argparse.ArgumentParser) -> None:
    from fleet.history import DEFAULT_URL

    p.add_argument("--db", default=DEFAULT_URL, help=f"database URL (default {DEFAULT_URL})")
    p.add_argument("--stop", default=None, help="only this stop (default: every stop)")
    p.add_argument("--days", type=_days, default=7,
                   help="each stop's last N local days, today included")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON (one object a stop-day)")
    out.add_argument("--csv", action="store_true",
                     help="print CSV fit to publish as open data (figures only)")
    out.add_argument("--table", action="store_true",
                     help="print the table also when --chart is given")
    p.add_argument("--chart", metavar="FILE.png", default=None,
                   help="draw the stop's (or the fleet's) days into this PNG")
    p.set_defaults(func=cmd_history)
