"""``stopsafe history --db URL``: each stop's days in figures (table, JSON, CSV, chart).

It says only what the database knows: a day before a stop's first record is no line (and a
gap in a chart), a stop id the database never heard of is an error naming the closest known
ones, and a URL that leads to no history is refused unless ``--create``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import date
from pathlib import Path

EX_NOINPUT = 66  # sysexits: the stop asked for is not in the database
CLOSEST = 3


def unknown_stop(stop: str, known: list[str]) -> str:
    """The one line for a stop id the database has never heard of."""
    close = difflib.get_close_matches(stop, known, n=CLOSEST, cutoff=0.5)
    if close:
        hint = "closest known: " + ", ".join(close)
    elif known:
        hint = f"{len(known)} stops known, e.g. " + ", ".join(known[:CLOSEST])
    else:
        hint = "the database has no stop yet"
    return f"stopsafe history: no stop {stop!r} in the database; {hint}"


def cmd_history(args: argparse.Namespace) -> int:
    from edge.config import EX_CONFIG
    from fleet.history import report
    from fleet.history.store import Store, StoreError

    try:
        report.window(report.latest_today(), args.days, args.since, args.until)
    except report.WindowError as exc:
        print(f"stopsafe history: {exc}", file=sys.stderr)
        return 2
    try:
        store = Store(args.db, create=args.create)
    except StoreError as exc:
        print(f"stopsafe history: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        if args.stop:
            known = store.stops()
            if args.stop not in known:
                print(unknown_stop(args.stop, known), file=sys.stderr)
                return EX_NOINPUT
        rows = report.build(store, args.days, args.stop, since=args.since, until=args.until)
    finally:
        store.close()
    span = report.chart_days(args.days, args.since, args.until, rows)
    if args.chart:
        what = f"stop {args.stop}" if args.stop else f"{len({r.stop for r in rows})} stops"
        when = f"{span[0]} .. {span[-1]}" if span else "no days"
        report.chart(rows, span, Path(args.chart),
                     f"stopsafe: {what}, {when} (each stop's local days)")
        print(f"stopsafe history: chart written to {args.chart}", file=sys.stderr)
    if args.json:
        json.dump(report.as_json(rows), sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.csv:
        sys.stdout.write(report.as_csv(rows))
    elif not args.chart or args.table:
        from sim.tables import console

        console().print(report.table(rows, span))
    return 0


def _days(text: str) -> int:
    from fleet.history.report import MAX_DAYS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_DAYS}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {text!r}") from None


def register(p: argparse.ArgumentParser) -> None:
    from fleet.history import DEFAULT_URL

    p.add_argument("--db", default=DEFAULT_URL, help=f"database URL (default {DEFAULT_URL})")
    p.add_argument("--create", action="store_true",
                   help="start a new, empty history if the URL leads to none (without it such "
                   "a URL, a typo say, is refused)")
    p.add_argument("--stop", default=None, help="only this stop (default: every stop)")
    p.add_argument("--days", type=_days, default=None,
                   help="each stop's last N local days, today included (default 7; with --since or "
                   "--until: the window's length)")
    p.add_argument("--since", type=_day, default=None, metavar="YYYY-MM-DD",
                   help="first day of the window (each stop's local days)")
    p.add_argument("--until", type=_day, default=None, metavar="YYYY-MM-DD",
                   help="last day of the window (today at most)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON (one object a stop-day)")
    out.add_argument("--csv", action="store_true",
                     help="print CSV fit to publish as open data (figures only)")
    out.add_argument("--table", action="store_true",
                     help="print the table also when --chart is given")
    p.add_argument("--chart", metavar="FILE.png", default=None,
                   help="draw the stop's (or the fleet's) days into this PNG")
    p.set_defaults(func=cmd_history)
