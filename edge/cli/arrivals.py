"""``stopsafe arrivals``: what the arrivals feed says about this stop, for an installer.

``-c CONFIG`` polls the configured feed once; ``--feed URL|FILE --stop ID`` reads one moment of
any GTFS-realtime feed (two ``--feed`` for VehiclePositions and TripUpdates apart); ``--feed
DIR`` replays a folder of recorded files in the feed's order through the stop's own tracker and
prints each arrival (``--json``: one object a line).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from edge.cli.common import EX_UNAVAILABLE, load
from edge.config import ArrivalsConfig, ConfigError
from edge.decision.feed import FeedKind, Snapshot


def _iso(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _now(snap: Snapshot, as_json: bool) -> None:
    """One moment: the vehicles that have the stop ahead or are at it."""
    related = sorted(snap.related(), key=lambda o: (o.stops_away or 0, o.eta_s or 0))
    if as_json:
        for o in related:
            print(json.dumps({"at": snap.at, "stop_id": snap.stop_id, "trip_id": o.trip_id,
                              "vehicle_id": o.vehicle_id, "route_id": o.route_id,
                              "relation": o.relation.value, "eta_s": o.eta_s,
                              "stops_away": o.stops_away}))
        return
    print(f"{snap.kind.value} feed at {_iso(snap.at)} UTC: {len(snap.observations)} vehicles, "
          f"{len(related)} coming to or at stop {snap.stop_id}")
    for o in related:
        eta = "" if o.eta_s is None else f", eta {o.eta_s:.0f} s"
        away = "" if o.stops_away is None else f", {o.stops_away} stop(s) away"
        print(f"  route {o.route_id or '-'} vehicle {o.vehicle_id or '-'} trip "
              f"{o.trip_id or '-'}: {o.relation.value}{away}{eta}")


def _replay(snaps: list[Snapshot], a: ArrivalsConfig, as_json: bool) -> None:
    from edge.arrivals.build import bus_settings
    from edge.decision.buses import BusTracker

    tracker = BusTracker(bus_settings(a))
    arrivals = []
    for snap in snaps:  # the feed's own time is the clock of a replay
        change = tracker.observe(snap, snap.at)
        arrivals += change.closed
        if not as_json:
            for r in change.reached:
                print(f"{_iso(snap.at)} reached: route {r.route_id} trip {r.trip_id}")
    if snaps:
        arrivals += tracker.close_all(snaps[-1].at).closed
    if as_json:
        for arr in arrivals:
            print(json.dumps(arr.record()))
        return
    print(f"{len(snaps)} snapshots {_iso(snaps[0].at if snaps else None)} .. "
          f"{_iso(snaps[-1].at if snaps else None)} UTC: {len(arrivals)} arrivals")
    for arr in arrivals:
        dwell = "" if arr.dwell_s is None else f" (reported {arr.dwell_s:.0f} s)"
        print(f"  route {arr.route_id or '-'} trip {arr.trip_id or '-'} vehicle "
              f"{arr.vehicle_id or '-'}: near {_iso(arr.approached_at)}, "
              f"{arr.outcome.value if arr.outcome else '-'}{dwell}, stopped "
              f"{_iso(arr.stopped_from)} .. {_iso(arr.stopped_until)}")


def cmd_arrivals(args: argparse.Namespace) -> int:
    from edge.arrivals import gtfs_rt
    from edge.arrivals.build import PARSERS, make_source
    from edge.arrivals.gtfs_rt import FeedError
    from edge.arrivals.source import fetch, replay_folder

    cfg = load(args.config)
    a = cfg.arrivals
    changes = {k: v for k, v in (("stop_id", args.stop), ("near_s", args.near_s),
                                 ("near_stops", args.near_stops)) if v is not None}
    if args.kind:
        changes["kind"] = FeedKind(args.kind)
    a = a.model_validate({**a.model_dump(), **changes})
    try:
        if not args.feed:
            _now(make_source(a, where=args.config or "<config>").poll(), args.json)
            return 0
        if a.stop_id is None:
            raise ConfigError("--stop: which stop of the feed?")
        folder = Path(args.feed[0])
        if len(args.feed) == 1 and folder.is_dir():
            _replay(replay_folder(folder, a.stop_id), a, args.json)
            return 0
        bodies = [Path(f).read_bytes() if Path(f).is_file() else fetch(f, a.timeout_s)
                  for f in args.feed]
        if a.kind in PARSERS:
            import time

            _now(PARSERS[a.kind](bodies[0], a.stop_id, time.time()), args.json)
        else:
            _now(gtfs_rt.snapshot([gtfs_rt.parse_message(b) for b in bodies], a.stop_id),
                 args.json)
    except (FeedError, OSError) as exc:
        print(f"stopsafe arrivals: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    return 0


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="config file (its 'arrivals' section)")
    p.add_argument("--feed", action="append", metavar="URL|FILE|DIR",
                   help="a GTFS-realtime URL or file (twice: positions and trip updates), or "
                   "a folder of recorded files to replay")
    p.add_argument("--stop", help="this stop's id in the feed (else arrivals.stop_id)")
    p.add_argument("--kind", choices=[k.value for k in FeedKind],
                   help="the feed's format (else arrivals.kind)")
    p.add_argument("--near-s", type=float, help="a bus this many seconds away is near")
    p.add_argument("--near-stops", type=int, help="a bus this many stops away is near")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.set_defaults(func=cmd_arrivals)
