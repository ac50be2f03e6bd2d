"""``stopsafe fleet-sim --stops N``: N fake stops on the broker, for load tests."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time


def cmd_fleet_sim(args: argparse.Namespace) -> int:
    from edge.config import LogFormat
    from edge.logs import configure_logging
    from edge.mqtt.client import broker_config
    from sim.fleet import Fleet

    configure_logging(args.log_level, LogFormat.AUTO)
    cfg = broker_config(args)
    cfg.mqtt.telemetry_s = args.telemetry_s
    cfg.mqtt.discovery = not args.no_discovery
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    t0 = time.monotonic()
    fleet = Fleet(cfg, args.stops, id_prefix=args.id_prefix, seed=args.seed, fps=args.fps)
    fleet.start()
    print(f"fleet-sim: {args.stops} stops as {args.id_prefix}-*, broker "
          f"{cfg.mqtt.host}:{cfg.mqtt.port}", file=sys.stderr)
    reported = False
    try:
        while not stop.wait(0.5):
            if not reported and fleet.connected() == args.stops:
                reported = True
                print(f"fleet-sim: all {args.stops} connected after "
                      f"{time.monotonic() - t0:.2f} s", file=sys.stderr)
            if args.duration is not None and time.monotonic() - t0 >= args.duration:
                break
    except KeyboardInterrupt:
        pass
    finally:
        fleet.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from edge.mqtt.client import add_broker_args

    p = sub.add_parser("fleet-sim", help="impersonate N stops on the broker (load tests)")
    add_broker_args(p)
    p.add_argument("--stops", type=int, required=True, help="number of fake stops")
    p.add_argument("--id-prefix", default="fleet", help="stop ids are PREFIX-0000, ...")
    p.add_argument("--fps", type=float, default=1.0, help="fake frames a second per stop")
    p.add_argument("--telemetry-s", type=float, default=60.0, help="seconds between tele")
    p.add_argument("--no-discovery", action="store_true", help="no Home Assistant configs")
    p.add_argument("--duration", type=float, default=None, help="exit after S seconds")
    p.add_argument("--seed", type=int, default=1, help="random seed of the fake world")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_fleet_sim)
