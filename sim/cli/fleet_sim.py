"""``stopsafe fleet-sim --stops N``: N fake stops on the broker, for load tests."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from edge.files import write_atomic


def _run_part(cfg, args, k: int, first: int, count: int, width: int, ready, stop) -> None:
    """One process's share of the fleet (stops ``first`` .. ``first + count - 1``)."""
    from sim.fleet import Fleet

    # a signal handler must not touch multiprocessing's locks (the main thread may hold them)
    term = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: term.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fleet = Fleet(cfg, count, id_prefix=args.id_prefix, seed=args.seed, fps=args.fps,
                  first=first, width=width)
    fleet.start()
    try:
        while not term.wait(0.25) and not stop.is_set():
            with ready.get_lock():
                ready[k] = fleet.connected()
    finally:
        fleet.close()
        if args.summary:
            part = Path(f"{args.summary}.part{k}")
            part.write_text(json.dumps(fleet.summary()))


def write_summary(path: Path, parts: int) -> None:
    """Merge the processes' parts into one JSON file: ``{"stops": [{stop, last_seq, queued,
    dropped}, ...]}`` (a part is missing when its process died: those stops are not listed)."""
    stops: list[dict] = []
    for k in range(parts):
        part = Path(f"{path}.part{k}")
        if part.exists():
            stops += json.loads(part.read_text())
            part.unlink()
    write_atomic(path, json.dumps({"stops": stops}, indent=0))


def cmd_fleet_sim(args: argparse.Namespace) -> int:
    import multiprocessing as mp

    from edge.config import LogFormat
    from edge.logs import configure_logging
    from edge.mqtt.client import broker_config
    from sim.fleet import raise_open_files

    configure_logging(args.log_level, LogFormat.AUTO)

    cfg = broker_config(args)
    cfg.mqtt.telemetry_s = args.telemetry_s
    cfg.mqtt.discovery = args.discovery
    cfg.mqtt.discovery_delay_max_s = args.discovery_delay_max_s
    raise_open_files(2 * args.stops + 256)
    procs = max(1, min(args.procs, args.stops))
    share = -(-args.stops // procs)
    width = max(4, len(str(args.stops)))
    ctx = mp.get_context("fork")  # the children start with everything already imported
    stop = ctx.Event()
    ready = ctx.Array("i", procs)
    t0 = time.monotonic()
    children = []
    for k in range(procs):
        first = k * share
        count = min(share, args.stops - first)
        if count <= 0:
            break
        p = ctx.Process(target=_run_part, args=(cfg, args, k, first, count, width, ready, stop),
                        name=f"fleet-{k}")
        p.start()
        children.append(p)
    term = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: term.set())
    print(f"fleet-sim: {args.stops} stops as {args.id_prefix}-*, {len(children)} processes, "
          f"broker {cfg.mqtt.host}:{cfg.mqtt.port}", file=sys.stderr)
    reported = False
    try:
        while not term.wait(0.25):
            if not reported and sum(ready[:]) >= args.stops:
                reported = True
                print(f"fleet-sim: all {args.stops} connected after "
                      f"{time.monotonic() - t0:.2f} s", file=sys.stderr)
            if args.duration is not None and time.monotonic() - t0 >= args.duration:
                break
            if not any(p.is_alive() for p in children):
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for p in children:
            p.join(timeout=30)
    if args.summary:
        write_summary(Path(args.summary), len(children))
    return 0 if all(p.exitcode == 0 for p in children) else 1


def register(p: argparse.ArgumentParser) -> None:
    from edge.mqtt.client import add_broker_args

    add_broker_args(p)
    p.add_argument("--stops", type=int, required=True, help="number of fake stops")
    p.add_argument("--id-prefix", default="fleet", help="stop ids are PREFIX-0000, ...")
    p.add_argument("--fps", type=float, default=1.0, help="fake frames a second per stop")
    p.add_argument("--telemetry-s", type=float, default=60.0, help="seconds between tele")
    p.add_argument("--discovery", action="store_true",
                   help="also publish Home Assistant discovery configs (off: a load test should "
                   "not fill a real Home Assistant with fake stops)")
    p.add_argument("--discovery-delay-max-s", type=float, default=30.0,
                   help="after Home Assistant's 'online', each stop re-sends its discovery "
                   "config after its own delay below this (mqtt.discovery_delay_max_s)")
    p.add_argument("--duration", type=float, default=None, help="exit after S seconds")
    p.add_argument("--seed", type=int, default=1, help="random seed of the fake world")
    p.add_argument("--procs", type=int, default=os.cpu_count() or 1,
                   help="processes to spread the stops over (default: one per CPU)")
    p.add_argument("--summary", metavar="FILE.json", default=None,
                   help="at exit, write each stop's own event counter (last seq, still queued, "
                   "dropped) to this file, to check a consumer for missing events")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_fleet_sim)
