"""The ``stopsafe`` command line: one module a sub-command in this package, each with
``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit status).

The terminal UI of the maintenance console is ``fleet_view``; ``common`` holds what the
sub-commands share. ``MODULES`` below is the order in ``stopsafe --help``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from edge import __version__
from edge.config import EX_CONFIG, ConfigError, LogFormat
from edge.logs import configure_logging

MODULES = (
    "edge.cli.run",
    "edge.cli.sim",
    "edge.cli.models",
    "edge.cli.check_config",
    "edge.cli.bench",
    "edge.cli.soak",
    "edge.cli.selftest",
    "edge.cli.snapshot",
    "edge.cli.zone",
    "edge.cli.commission",
    "edge.cli.console",
    "edge.cli.fleet_sim",
    "edge.cli.collect",
    "edge.cli.history",
    "edge.cli.arrivals",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stopsafe",
        description="Bus-stop stop-safety light: detect waiting passengers, switch the light.",
    )
    p.add_argument("--version", action="version", version=f"stopsafe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("info", LogFormat.AUTO)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"stopsafe: config error: {exc}", file=sys.stderr)
        return EX_CONFIG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
