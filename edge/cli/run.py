"""``stopsafe run -c CONFIG``: the daemon."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import structlog

from edge.cli.common import EX_SOFTWARE, EX_UNAVAILABLE, add_config_option, load
from edge.config import EX_CONFIG, ConfigError
from edge.logs import configure_logging

log = structlog.get_logger("stopsafe.cli")


def cmd_run(args: argparse.Namespace) -> int:
    from actuators.light import LightError
    from detector.models import ModelError, ModelMismatch
    from edge.runtime.daemon import run_daemon
    from edge.runtime.frames import CameraError, CameraFileEnded

    cfg = load(args.config)
    configure_logging(cfg.logging.level, cfg.logging.format)
    try:
        return run_daemon(cfg, config_path=Path(args.config))
    except ModelMismatch as exc:  # the config names a model its back-end cannot read
        log.error("model_unusable", error=str(exc))
        print(f"stopsafe: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except ModelError as exc:
        log.error("model_unusable", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_SOFTWARE
    except ConfigError:
        raise  # e.g. an unreadable mqtt.password_file: exit 78 with one line, like any bad config
    except CameraFileEnded as exc:
        log.error("camera_file_ended_early", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except (CameraError, LightError) as exc:
        log.error("start_failed", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except Exception as exc:  # the pipeline said where (pipeline_failed); end non-zero
        log.error("daemon_failed", error=f"{type(exc).__name__}: {exc}")
        return EX_SOFTWARE


def register(p: argparse.ArgumentParser) -> None:
    add_config_option(p, required=True)
    p.set_defaults(func=cmd_run)
