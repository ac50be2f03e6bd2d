"""``stopsafe collect --broker HOST:PORT --db URL``: the fleet's messages into the history
database (see ``fleet.history.collector``)."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

DEFAULT_GROUP = "stopsafe-history"
DEFAULT_SESSION_EXPIRY_S = 3600


def cmd_collect(args: argparse.Namespace) -> int:
    from edge.config import EX_CONFIG
    from edge.extras import EX_UNAVAILABLE
    from edge.mqtt.client import apply_credentials_and_tls, broker_config
    from fleet.history.collector import Collector
    from fleet.history.store import Store, StoreError

    cfg = broker_config(args)
    try:
        known = _known_stops(args)
    except ValueError as exc:
        print(f"stopsafe collect: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        store = Store(args.db, create=args.create)
    except StoreError as exc:
        print(f"stopsafe collect: {exc}", file=sys.stderr)
        return EX_CONFIG
    client_id = args.client_id or f"stopsafe-collect-{socket.gethostname()}-{args.group}"
    collector = Collector(
        store, cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.prefix, args.group, client_id,
        args.session_expiry_s,
        None if args.retention_days is None else args.retention_days * 86400.0,
        keepalive_s=cfg.mqtt.keepalive_s,
        configure=lambda c: apply_credentials_and_tls(c, cfg), known=known)
    stop = collector.stop
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.duration is not None:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    print(f"stopsafe collect: {client_id} in share group {args.group}, broker "
          f"{cfg.mqtt.host}:{cfg.mqtt.port}, database {store.dialect} schema v{store.version}"
          + (f" (upgraded from v{store.upgraded_from})"
             if 0 < store.upgraded_from < store.version else ""), file=sys.stderr)
    try:
        if args.retire:
            collector.retire()
        else:
            collector.run()
    except OSError as exc:
        print(f"stopsafe collect: broker {cfg.mqtt.host}:{cfg.mqtt.port}: {exc}",
              file=sys.stderr)
        return EX_UNAVAILABLE
    finally:
        store.close()
    print(json.dumps({"collect": collector.stats.as_dict(collector.dropped)}), file=sys.stderr)
    return 0


def _known_stops(args: argparse.Namespace) -> Any:
    """The fleet's stops from --stops, --stops-file and --stop-pattern (None: every stop);
    ValueError with one line for an unreadable file, a bad pattern, an id no stop can have, or
    two ids that would be the same entity in Home Assistant."""
    import re

    from edge.config.stop import STOP_ID_CHARS, STOP_ID_MAX
    from edge.wire import folded_clash
    from fleet.history.collector import known_stops

    ids = [i for chunk in args.stops for i in chunk.split(",") if i]
    if args.stops_file is not None:
        try:
            text = Path(args.stops_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--stops-file {args.stops_file}: cannot read: {exc}") from None
        ids += [line.split("#")[0].strip() for line in text.splitlines()
                if line.split("#")[0].strip()]
    bad = next((i for i in ids if len(i) > STOP_ID_MAX or not re.fullmatch(STOP_ID_CHARS, i)),
               None)
    if bad is not None:
        raise ValueError(f"known stops: {bad!r} is not a stop id (letters, digits, '-', '_', "
                         f"at most {STOP_ID_MAX})")
    clash = folded_clash(ids)
    if clash is not None:
        raise ValueError(f"known stops: {clash}")
    try:
        return known_stops(ids, args.stop_pattern)
    except re.error as exc:
        raise ValueError(f"--stop-pattern {args.stop_pattern!r}: {exc}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def register(p: argparse.ArgumentParser) -> None:
    from edge.mqtt.client import add_broker_args
    from fleet.history import DEFAULT_URL

    add_broker_args(p)
    p.add_argument("--db", default=DEFAULT_URL,
                   help=f"database URL: {DEFAULT_URL} (default) or postgresql://USER@HOST/DB")
    p.add_argument("--create", action="store_true",
                   help="start a new history if the URL leads to none (the first collector "
                   "of a fleet; without it such a URL, a typo say, is refused)")
    p.add_argument("--group", default=DEFAULT_GROUP,
                   help="share group: collectors in one group split the messages")
    p.add_argument("--client-id", default=None,
                   help="this collector's MQTT client id, the key of its persistent session "
                   "(default: stopsafe-collect-<host>-<group>); give each collector its own and "
                   "keep it across restarts")
    p.add_argument("--session-expiry-s", type=_positive_int, default=DEFAULT_SESSION_EXPIRY_S,
                   help="how long the broker keeps this collector's session (and queues its "
                   "share of messages) while it is away")
    p.add_argument("--retention-days", type=float, default=30.0,
                   help="keep status changes and telemetry this long (events are kept for "
                   "good); default 30")
    p.add_argument("--stops", action="append", default=[], metavar="ID[,ID...]",
                   help="the fleet's stop ids; messages of any other stop are counted "
                   "(unknown_stop) and not stored (default: every stop)")
    p.add_argument("--stops-file", default=None, metavar="FILE",
                   help="the fleet's stop ids, one a line ('#' comments)")
    p.add_argument("--stop-pattern", default=None, metavar="REGEX",
                   help="stop ids matching this (the whole id) are the fleet's too")
    p.add_argument("--duration", type=float, default=None, help="exit after S seconds")
    p.add_argument("--retire", action="store_true",
                   help="take this --client-id out of the group for good: write what the broker "
                   "queued for its session while it was away, then end the session, and exit")
    p.set_defaults(func=cmd_collect)
