"""``stopsafe run -c CONFIG``: the daemon."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import structlog

from edge.cli.common import EX_SOFTWARE, EX_UNAVAILABLE, add_config_option, load
from edge.config import Config, ConfigError
from edge.logs import configure_logging

log = structlog.get_logger("stopsafe.cli")


def cmd_run(args: argparse.Namespace) -> int:
    from actuators.light import LightError
    from edge.runtime.daemon import run_daemon
    from edge.runtime.frames import CameraFileEnded

    path = Path(args.config)
    cfg, running, rejected = _config(path)
    configure_logging(cfg.logging.level, cfg.logging.format)
    if rejected is not None:
        log.error("config_rejected", error=rejected, running=str(running))
    try:
        # a reload (SIGHUP, the command) reads the file named, once it is put right
        return run_daemon(cfg, config_path=path, rejected=rejected)
    except ConfigError:
        raise  # e.g. an unreadable mqtt.password_file: exit 78 with one line, like any bad config
    except CameraFileEnded as exc:
        log.error("camera_file_ended_early", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except LightError as exc:
        log.error("start_failed", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except Exception as exc:  # the pipeline said where (pipeline_failed); end non-zero
        log.error("daemon_failed", error=f"{type(exc).__name__}: {exc}")
        return EX_SOFTWARE


def _config(path: Path) -> tuple[Config, Path, str | None]:
    """The config to run: the file's, or when it fails validation the last good one (with the
    one-line reason). With neither, the reason is left retained on the broker when the file's
    ``mqtt`` section can be read, and the ConfigError ends the process (exit 78)."""
    from edge.mqtt.last_word import broker_config, say_last_word
    from edge.runtime.faults import Fault
    from edge.runtime.last_good import load_last_good

    try:
        return load(str(path)), path, None
    except ConfigError as exc:
        kept = load_last_good()
        if kept is not None:
            return kept[0], kept[1], str(exc)
        broker = broker_config(path)
        if broker is not None:
            say_last_word(broker, Fault.CONFIG_REJECTED, f"{exc} (and no last good config)",
                          path)
        raise


def register(p: argparse.ArgumentParser) -> None:
    add_config_option(p, required=True)
    p.set_defaults(func=cmd_run)
