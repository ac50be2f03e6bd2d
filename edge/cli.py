"""The ``stopsafe`` command line: sub-commands live in edge/commands/, one module each."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from edge import __version__
from edge.commands import MODULES
from edge.config import EX_CONFIG, ConfigError, LogFormat
from edge.logs import configure_logging


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
