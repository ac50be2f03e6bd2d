"""The ``stopsafe`` command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

import structlog

from edge import __version__
from edge.config import EX_CONFIG, Config, ConfigError, LogFormat, load_config
from edge.logs import configure_logging

EX_SOFTWARE = 70  # a part failed to start (model, camera, relay)
EX_UNAVAILABLE = 69

log = structlog.get_logger("stopsafe.cli")


def _load(path: str | None) -> Config:
    return load_config(Path(path) if path else None)


def cmd_run(args: argparse.Namespace) -> int:
    from actuators.light import LightError
    from detector.models import ModelError
    from edge.daemon import run_daemon
    from edge.frames import CameraError

    cfg = _load(args.config)
    configure_logging(cfg.logging.level, cfg.logging.format)
    try:
        return run_daemon(cfg, config_path=Path(args.config) if args.config else None)
    except ModelError as exc:
        log.error("model_unusable", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_SOFTWARE
    except (CameraError, LightError) as exc:
        log.error("start_failed", error=str(exc))
        print(f"stopsafe: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE


def cmd_sim(args: argparse.Namespace) -> int:
    from sim.cli import run_sim

    cfg = _load(args.config)
    return run_sim(cfg, args)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from detector.models import ModelError, fetch_models

    cfg = _load(args.config)
    dest = Path(args.dir) if args.dir else cfg.detector.models_dir
    try:
        done = fetch_models(dest, Path(args.source) if args.source else None, args.names or None)
    except (ModelError, OSError) as exc:
        print(f"stopsafe models fetch: {exc}", file=sys.stderr)
        return 1
    for name, what in done:
        print(f"{name}: {what} (sha256 ok) in {dest}")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))
    print(f"ok: {args.config or '(built-in defaults)'} is valid", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stopsafe", description=__doc__)
    p.add_argument("--version", action="version", version=f"stopsafe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("-c", "--config", required=True, help="YAML config file")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("sim", help="run scenarios through the pipeline with the mock relay")
    sim.add_argument("scenarios", nargs="+", help="scenario.yaml files")
    sim.add_argument("-c", "--config", help="config file (default: built-in defaults)")
    sim.add_argument("--json", action="store_true", help="print only the JSON scores on stdout")
    sim.add_argument("--report", metavar="DIR", help="write timeline and snapshot pictures")
    sim.add_argument("--realtime", action="store_true", help="play clips at their own pace")
    sim.set_defaults(func=cmd_sim)

    models = sub.add_parser("models", help="model files")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    fetch = msub.add_parser("fetch", help="put the manifest's models into the models folder")
    fetch.add_argument("names", nargs="*", help="model files (default: all in the manifest)")
    fetch.add_argument("--from", dest="source", metavar="DIR",
                       help="offline bundle folder (default: download from the manifest's URLs)")
    fetch.add_argument("--dir", help="destination (default: the config's detector.models_dir)")
    fetch.add_argument("-c", "--config", help="config file")
    fetch.set_defaults(func=cmd_models_fetch)

    check = sub.add_parser("check-config", help="validate and print the effective config")
    check.add_argument("-c", "--config", required=True)
    check.set_defaults(func=cmd_check_config)
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


def run_main() -> Any:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
