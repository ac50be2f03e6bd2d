"""The ``stopsafe`` command line: one module a sub-command, each with ``register(parser)``, which
adds the sub-command's arguments to its parser and sets ``func`` (args -> exit status).

``COMMANDS`` is the one list of sub-commands: name, module and one-line help, in the order of
``stopsafe --help``. Only the module of the sub-command invoked is imported, so ``stopsafe run``
and ``stopsafe --help`` load neither the simulator (``sim``) nor the fleet tools (``fleet``,
whose console, collect and history sub-commands live in ``fleet.cli``; the simulator's sim,
bench, soak and fleet-sim live in ``sim.cli``). The command line is the process's entry, on top
of the composition layer (``edge.app``): ``run`` starts the daemon, ``commission`` runs its walk
test on a stop of its own. ``common`` holds what the sub-commands share.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import NamedTuple

from edge import __version__
from edge.cli.common import resolve_config
from edge.config import EX_CONFIG, ConfigError, LogFormat
from edge.extras import EX_UNAVAILABLE, missing_line
from edge.logs import configure_logging
from edge.mqtt.errors import BrokerUnavailable


class Command(NamedTuple):
    name: str  # as typed: stopsafe NAME
    module: str  # imported only when NAME is invoked; has register(parser)
    help: str  # the one line in stopsafe --help


COMMANDS = (
    Command("run", "edge.cli.run", "run the daemon"),
    Command("sim", "sim.cli.sim", "run scenarios through the pipeline with the mock relay"),
    Command("models", "edge.cli.models", "model files"),
    Command("check-config", "edge.cli.check_config", "validate and print the effective config"),
    Command("last-word", "edge.cli.last_word",
            "(systemd's ExecStopPost) leave why the daemon ended retained on the broker"),
    Command("bench", "sim.cli.bench", "time each stage of the pipeline on scenarios' clips"),
    Command("soak", "sim.cli.soak", "loop a clip through the whole daemon and watch resources"),
    Command("selftest", "edge.cli.selftest",
            "check relay, lamp, camera, model, broker and clock"),
    Command("snapshot", "edge.cli.snapshot",
            "a live frame with the zone and detections, as a PNG"),
    Command("zone", "edge.cli.zone",
            "set the waiting zone in the config file (redraw the snapshot), or mask the "
            "static places"),
    Command("commission", "edge.cli.commission",
            "all checks and a snapshot, with a report in DIR"),
    Command("web-password", "edge.cli.web_password", "make the hash for web.password_hash"),
    Command("console", "fleet.cli.console",
            "every stop on the broker in a terminal UI (filter, sort, details, commands, "
            "forget); --once/--json for scripts; send"),
    Command("fleet-sim", "sim.cli.fleet_sim", "impersonate N stops on the broker (load tests)"),
    Command("collect", "fleet.cli.collect",
            "keep every stop's events, status and telemetry in a database (MQTT 5 shared "
            "subscription; several collectors share a group)"),
    Command("history", "fleet.cli.history",
            "each stop's days from the history database: light on-time, switch-ons, waiting, "
            "hours blind, faults, time offline"),
    Command("arrivals", "edge.cli.arrivals",
            "what the arrivals feed says about this stop (now, or a recorded folder replayed)"),
)


def invoked(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names: its first word that is not an option (the top level has
    only --help and --version, which take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: every sub-command's name and one-line help, and the full
    arguments of the one ``argv`` invokes, whose module alone is imported. None: every
    sub-command in full (imports them all)."""
    chosen = None if argv is None else invoked(argv)
    p = argparse.ArgumentParser(
        prog="stopsafe",
        description="Bus-stop stop-safety light: detect waiting passengers, switch the light.",
    )
    p.add_argument("--version", action="version", version=f"stopsafe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS:
        cp = sub.add_parser(cmd.name, help=cmd.help)
        if argv is None or cmd.name == chosen:
            importlib.import_module(cmd.module).register(cp)
    return p


def _name(args: argparse.Namespace) -> str:
    """The command as typed (``console send``: a sub-command's own ``tool`` default)."""
    return getattr(args, "tool", None) or args.command


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    configure_logging("info", LogFormat.AUTO)
    # SIGPIPE stays ignored (Python's own start-up setting): its default action would end the
    # whole process on a write to any closed socket (a web client or a webhook that hung up, the
    # broker), from any thread; a reader that went away (``stopsafe history | head``) is
    # BrokenPipeError on standard output instead, below
    try:
        resolve_config(args)  # -c, else $STOPSAFE_CONFIG, else the installed file
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"stopsafe: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except BrokenPipeError:  # the reader of standard output went away: end quietly, as
        # SIGPIPE's default would (the Python docs' recipe: no second error at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except BrokerUnavailable as exc:  # down, unreachable, or refused the login: one line
        print(f"stopsafe {_name(args)}: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:  # an optional extra that is not installed: one line
        line = missing_line(_name(args), exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EX_UNAVAILABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
