"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import os
import sys
import typing
from pathlib import Path

from edge.config import Config, ConfigError, LoggingConfig, load_config
from edge.extras import EX_UNAVAILABLE as EX_UNAVAILABLE  # 69: also the camera or the relay

if typing.TYPE_CHECKING:
    from rich.console import Console

EX_SOFTWARE = 70  # the model cannot be used

CONFIG_ENV = "STOPSAFE_CONFIG"
INSTALLED_CONFIG = Path("/etc/stopsafe/stopsafe.yaml")  # where systemd/install.sh puts it


def add_config_option(p: argparse.ArgumentParser, *, required: bool, what: str = "") -> None:
    """``-c/--config``; without it the file is found by :func:`config_path` (resolved by
    ``main`` before the command runs, so ``args.config`` is the file in use, or None)."""
    fallback = (f"${CONFIG_ENV}, then {INSTALLED_CONFIG}"
                + ("" if required else ", then built-in defaults"))
    p.add_argument("-c", "--config", help=f"YAML config file{what} (default: {fallback})")
    p.set_defaults(config_required=required)


def config_path(given: str | None, *, required: bool) -> Path | None:
    """The config file a command uses: ``-c``, else ``$STOPSAFE_CONFIG``, else the installed
    ``/etc/stopsafe/stopsafe.yaml``; where the command allows it, None (built-in defaults).
    A file not named with ``-c`` is said on standard error, so nobody wonders which it was."""
    if given:
        return Path(given)
    env = os.environ.get(CONFIG_ENV)
    if env:
        print(f"stopsafe: config {env} (from ${CONFIG_ENV})", file=sys.stderr)
        return Path(env)
    if INSTALLED_CONFIG.is_file():
        print(f"stopsafe: config {INSTALLED_CONFIG} (the installed one; -c FILE for another)",
              file=sys.stderr)
        return INSTALLED_CONFIG
    if required:
        raise ConfigError(f"no config file: give -c FILE, set ${CONFIG_ENV}, or install one "
                          f"at {INSTALLED_CONFIG} (systemd/install.sh writes it)")
    return None


def resolve_config(args: argparse.Namespace) -> None:
    """Put the config file in use into ``args.config`` for a command with a config option."""
    if hasattr(args, "config_required"):
        path = config_path(args.config, required=args.config_required)
        args.config = str(path) if path is not None else None


LOG_LEVELS: tuple[str, ...] = typing.get_args(LoggingConfig.model_fields["level"].annotation)
REPORT_LOG_LEVEL = "warning"


def add_log_option(p: argparse.ArgumentParser) -> None:
    """``--log-level`` for a command whose output is a report (a table, checks, JSON)."""
    p.add_argument("--log-level", choices=LOG_LEVELS,
                   help=f"lowest log level on standard error (default: {REPORT_LOG_LEVEL}, or "
                   "the config's logging.level where the file sets it)")


def report_logging(cfg: Config, args: argparse.Namespace) -> None:
    """A command that prints a report logs warnings and errors only, so nothing comes ahead of
    or into its table; ``--log-level`` or a config that sets ``logging.level`` asks for more.
    The format is the config's (readable lines on a terminal, JSON lines elsewhere)."""
    from edge.logs import configure_logging

    level = getattr(args, "log_level", None) or (
        cfg.logging.level if "level" in cfg.logging.model_fields_set else REPORT_LOG_LEVEL)
    configure_logging(level, cfg.logging.format)


def load(path: str | None) -> Config:
    """The config at ``path`` (built-in defaults for None); ConfigError -> exit 78 in main."""
    return load_config(Path(path) if path else None)


def console(stderr: bool = False) -> Console:
    """Rich output; when not on a terminal (a log, CI) wide enough that no figure is cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)
